"""The fields every `/auth` answer carries, whatever its status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from core.hashing import sha256_hex
from hosts.models import Host
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
FIELDS = {
    "status",
    "canonical_last_refresh",
    "canonical_digest",
    "api_calls",
    "token_usage_month",
    "versions",
    "host",
    "chatgpt_usage",
}
VERSION_FIELDS = {
    "client_version",
    "client_version_checked_at",
    "client_version_source",
    "wrapper_version",
    "wrapper_sha256",
    "wrapper_url",
    "reported_client_version",
    "reported_wrapper_version",
    "client_update",
}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def record(
    host: Host | None, ts: datetime, message_id: str, source: str = "codex", **tokens
) -> None:
    UsageRecord.objects.create(
        message_id=message_id,
        source=source,
        user="alice",
        machine="build-01",
        model="gpt-5.1-codex",
        ts=ts,
        host=host,
        **tokens,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64},
        {"command": "store", "auth": "CODEX_AUTH"},
    ],
)
def test_every_answer_carries_the_same_fields(clock, host_client, codex_auth, body):
    if body["command"] == "store":
        body = {**body, "auth": codex_auth()}

    data = host_client.post("/auth", body, format="json").json()["data"]

    assert set(data) >= FIELDS
    assert set(data["versions"]) == VERSION_FIELDS
    assert isinstance(data["chatgpt_usage"], dict) and "available" in data["chatgpt_usage"]
    assert data["host"] == {
        "id": data["host"]["id"],
        "fqdn": "build-01",
        "owner": "alice",
        "status": "active",
        "allow_roaming_ips": False,
        "bound_ip": "127.0.0.1",
        "client_version": None,
        "wrapper_version": None,
        "api_calls": 1,
        "last_seen_at": "2026-11-20T12:00:00Z",
        "created_at": data["host"]["created_at"],
    }
    assert data["api_calls"] == 1


def test_it_sums_this_hosts_codex_tokens_since_the_start_of_the_utc_month(clock, host, host_client):
    other = Host.objects.create(fqdn="build-02", api_key_hash=sha256_hex("hk_other"))
    record(
        host,
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        "m1",
        input=100,
        cache_read=50,
        output=30,
        reasoning=10,
    )
    record(
        host, datetime(2026, 11, 20, 11, 0, tzinfo=UTC), "m2", input=7, cache_creation=3, output=2
    )
    record(host, datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), "old", input=1000)
    record(other, datetime(2026, 11, 5, tzinfo=UTC), "theirs", input=5000)
    record(None, datetime(2026, 11, 5, tzinfo=UTC), "unattributed", input=9000)
    # Claude Code usage the collector sent with this host's key is not Codex usage.
    record(host, datetime(2026, 11, 6, tzinfo=UTC), "claude", source="claude", input=70000)

    data = host_client.post(
        "/auth",
        {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64},
        format="json",
    ).json()["data"]

    # As Codex counts: total = non-cached input + output (reasoning inside output, cached apart).
    assert data["token_usage_month"] == {
        "total": 107 + 32,
        "input": 107,
        "output": 32,
        "cached": 50,
        "reasoning": 10,
        "events": 2,
    }
    assert "token_usage_month_detail" not in data


def test_it_counts_api_calls_across_answers(clock, host_client):
    body = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}

    counts = [
        host_client.post("/auth", body, format="json").json()["data"]["api_calls"] for _ in range(3)
    ]

    assert counts == [1, 2, 3]
