"""manage.py issue_token: the plaintext alone on the last line, and it authenticates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import ApiToken, AuditEvent
from core.hashing import sha256_hex

pytestmark = pytest.mark.django_db

TOKEN_LINE = re.compile(r"w[aire]_[A-Za-z0-9_-]{43}")


def issue(*args: str) -> list[str]:
    out = StringIO()
    call_command("issue_token", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_the_plaintext_alone_on_the_last_line_and_it_authenticates(client_for):
    lines = issue("--user", "ops", "--scope", "admin", "--label", "bootstrap")
    assert TOKEN_LINE.fullmatch(lines[-1])
    assert lines[-1].startswith("wa_")
    assert all(lines[-1] not in line for line in lines[:-1])
    token = ApiToken.objects.get(token_hash=sha256_hex(lines[-1]))
    assert (token.user, token.scope, token.label) == ("ops", "admin", "bootstrap")
    assert client_for(lines[-1]).get("/api/admin/tokens").status_code == 200


def test_it_audits_the_issue_as_the_command_without_the_secret():
    plaintext = issue("--user", "ops", "--scope", "ingest")[-1]
    event = AuditEvent.objects.get(action="token.issue", meta__user="ops")
    assert event.actor == "cli:issue_token"
    assert plaintext not in str(event.meta)


def test_it_sets_an_expiry_from_iso_8601():
    with time_machine.travel(datetime(2025, 3, 1, tzinfo=UTC), tick=False):
        plaintext = issue("--user", "ci", "--scope", "read", "--expires", "2025-04-01T00:00:00Z")[
            -1
        ]
    token = ApiToken.objects.get(token_hash=sha256_hex(plaintext))
    assert token.expires_at == datetime(2025, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ci", "--scope", "read", "--expires", "2000-01-01T00:00:00Z"], "future"),
        (["--user", "ci", "--scope", "read", "--expires", "soon"], "ISO 8601"),
        (["--user", "", "--scope", "read"], "user"),
        (["--user", "ci", "--scope", "root"], "root"),
    ],
)
def test_it_refuses_bad_arguments_without_issuing(args, message):
    with pytest.raises(CommandError, match=message):
        issue(*args)
    assert not ApiToken.objects.exists()


def test_it_reads_an_expiry_without_offset_as_utc():
    with time_machine.travel(datetime(2025, 3, 1, tzinfo=UTC), tick=False):
        plaintext = issue("--user", "ci", "--scope", "read", "--expires", "2025-04-01T08:00")[-1]
    token = ApiToken.objects.get(token_hash=sha256_hex(plaintext))
    assert token.expires_at == datetime(2025, 4, 1, 8, tzinfo=UTC)
