"""The dashboard cast: a staff user signed in (`staff_client`), a signed-in user who is not staff
(`member_client`), a CSRF-enforcing staff client, host `build-01` and a little usage."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent
from core.hashing import secret_hint, sha256_hex
from hosts.keys import KEY_PREFIX
from hosts.models import Host

UNREACHABLE = "http://127.0.0.1:9"
STAFF = "ops"
PASSWORD = "correct horse battery staple"
BUILD_01_KEY = KEY_PREFIX + "Build01DashTestKeyAbCdEfGhIjKlMnOpQrStU12"


@pytest.fixture(autouse=True)
def _upstreams_unreachable(settings):
    """ "Run now" and "Fetch now" run runner steps; none may reach the internet."""
    settings.CHATGPT_BASE_URL = f"{UNREACHABLE}/backend-api"
    settings.CODEX_RELEASES_URL = f"{UNREACHABLE}/repos/openai/codex/releases/latest"
    settings.PRICING_URL = f"{UNREACHABLE}/prices.json"
    settings.CODEX_OAUTH_TOKEN_URL = f"{UNREACHABLE}/oauth/token"


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(STAFF, password=PASSWORD, is_staff=True)


@pytest.fixture
def staff_client(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def csrf_client(staff_user) -> Client:
    """Signed in as staff, with CSRF checks on (the test Client skips them by default)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.fixture
def member_client(db) -> Client:
    user = get_user_model().objects.create_user("member", password=PASSWORD, is_staff=False)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def host(db) -> Host:
    return Host.objects.create(
        fqdn="build-01",
        owner="alice",
        api_key_hash=sha256_hex(BUILD_01_KEY),
        api_key_hint=secret_hint(BUILD_01_KEY),
    )


@pytest.fixture
def usage(db):
    """A few messages through the real ingest service: alice on build-01, bob on laptop-7."""
    from usage.services.ingest import messages_ingest

    now = timezone.now()
    for user, machine, model, count in (
        ("alice", "build-01", "claude-sonnet-4-5-20250929", 3),
        ("bob", "laptop-7", "claude-opus-4-6", 2),
        ("bob", "laptop-7", "mystery-model-1", 1),
    ):
        messages_ingest(
            body={
                "machine": machine,
                "messages": [
                    {
                        "message_id": f"{user}-{machine}-{model}-{index}",
                        "model": model,
                        "input_tokens": 1200 + index,
                        "output_tokens": 300,
                        "cache_creation_input_tokens": 1000,
                        "cache_read_input_tokens": 5000,
                        "ts": (now - timedelta(hours=index + 1)).isoformat(),
                    }
                    for index in range(count)
                ],
            },
            user=user,
            actor=f"test:{user}",
        )


def last_event(action: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


def found(pattern: str, text: str) -> str:
    """The first group of `pattern` in `text` (the test fails when it is not there)."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not found"
    return match[1]
