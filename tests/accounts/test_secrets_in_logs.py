"""A plaintext token never reaches the audit log or a log line, whatever the code around it logs."""

from __future__ import annotations

import io
import logging

import pytest

from accounts.models import AuditEvent
from core.hashing import sha256_hex
from core.logfilters import redact

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.probe_urls")]


@pytest.fixture
def console():
    """The output of the `console` handler settings configure (with its filters), at DEBUG."""
    root, requests = logging.getLogger(), logging.getLogger("django.request")
    handler = next(h for h in root.handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer), root.level, requests.level
    root.setLevel(logging.DEBUG)
    requests.setLevel(logging.DEBUG)  # settings keep it at ERROR; 4xx lines name the path too
    try:
        yield buffer
    finally:
        handler.setStream(previous[0])
        root.setLevel(previous[1])
        requests.setLevel(previous[2])


def test_it_keeps_a_token_out_of_logs_and_audit_through_its_whole_life(
    client_for, admin_token, console
):
    admin = client_for(admin_token)
    issued = admin.post("/api/admin/tokens", {"user": "kiosk", "scope": "embed"}, format="json")
    plaintext = issued.json()["token"]
    anonymous = client_for(None)
    assert anonymous.get(f"/api/probe/query-token?token={plaintext}").status_code == 200
    assert anonymous.get(f"/api/probe/log-path?token={plaintext}").status_code == 204
    assert client_for(plaintext).get("/api/admin/tokens").status_code == 403
    admin.delete(f"/api/admin/tokens/{issued.json()['id']}")
    assert client_for(plaintext).get("/api/admin/tokens").status_code == 401
    assert anonymous.get(f"/api/probe/query-token?token={plaintext}").status_code == 401

    output = console.getvalue()
    assert "Unauthorized: /api/admin/tokens" in output  # the log lines were captured
    assert "handling /api/probe/log-path?token=[redacted]" in output
    assert "rejected credential we_[redacted]" in output  # the traceback too
    assert plaintext not in output and plaintext[3:] not in output
    assert admin_token not in output

    rows = str(list(AuditEvent.objects.values()))
    assert "token.issue" in rows and "auth.failed" in rows
    for secret in (plaintext, admin_token):
        assert secret not in rows and sha256_hex(secret) not in rows


def test_it_scrubs_secret_keys_a_caller_puts_in_audit_meta():
    from accounts.services import audit_record

    event = audit_record(
        action="test.scrub",
        meta={"token": "wi_x", "nested": {"api_key": "hk_y", "keep": 1}, "list": [{"password": 2}]},
    )
    event.refresh_from_db()
    assert event.meta == {
        "token": "[redacted]",
        "nested": {"api_key": "[redacted]", "keep": 1},
        "list": [{"password": "[redacted]"}],
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('GET /embed/stream?token=we_abc123abc123abc123abc123 HTTP/1.1" 200', "token=[redacted]"),
        ("GET /embed/totals?a=1&TOKEN=secret&b=2", "TOKEN=[redacted]&b=2"),
        ("Bearer wa_" + "A" * 43, "wa_[redacted]"),
        ("X-API-Key hk_" + "b" * 40, "hk_[redacted]"),
        ("GET /install/Qm9vdHN0cmFwLXRva2VuLTAx HTTP/1.1", "/install/[redacted] HTTP/1.1"),
    ],
)
def test_it_redacts_credentials_in_any_line(line, expected):
    assert expected in redact(line)


@pytest.mark.parametrize("line", ["GET /api/usage/totals HTTP/1.1", "raw_input www_x", "we_short"])
def test_it_leaves_ordinary_lines_alone(line):
    assert redact(line) == line
