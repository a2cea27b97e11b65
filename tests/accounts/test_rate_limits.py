"""Per-credential rate limits and failed-authentication limits per client IP: 429, Retry-After,
one audit row per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings

from accounts.models import ApiToken, AuditEvent
from core.hashing import sha256_hex

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.probe_urls")]

# 15 s into a minute and into a 10-minute window (12:00 is a multiple of both).
T0 = datetime(2025, 3, 1, 12, 0, 15, tzinfo=UTC)
BAD = "wr_" + "n" * 43


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@override_settings(RATE_LIMIT_PER_MINUTE=3)
def test_it_answers_429_with_retry_after_past_the_limit(client_for, admin_token, frozen):
    client = client_for(admin_token)
    for _ in range(3):
        assert client.get("/api/admin/tokens").status_code == 200
    response = client.get("/api/admin/tokens")
    assert response.status_code == 429
    assert response["Retry-After"] == "45"
    assert response.json() == {"error": "Rate limit exceeded."}
    frozen.shift(timedelta(seconds=44))
    assert client.get("/api/admin/tokens").status_code == 429
    frozen.shift(timedelta(seconds=1))  # a new minute
    assert client.get("/api/admin/tokens").status_code == 200


@override_settings(RATE_LIMIT_PER_MINUTE=2)
def test_it_audits_the_first_refusal_of_each_window_only(client_for, admin_token, frozen):
    admin = ApiToken.objects.get(token_hash=sha256_hex(admin_token))
    client = client_for(admin_token)
    statuses = [client.get("/api/admin/audit").status_code for _ in range(6)]
    assert statuses == [200, 200, 429, 429, 429, 429]
    events = AuditEvent.objects.filter(action="rate.limited")
    assert events.count() == 1
    event = events.get()
    assert event.actor == f"token:{admin.pk}:root"
    assert event.ip == "127.0.0.1"
    assert event.meta == {"bucket": f"token:{admin.pk}", "limit": 2, "path": "/api/admin/audit"}
    frozen.shift(timedelta(minutes=1))
    assert [client.get("/api/admin/audit").status_code for _ in range(3)] == [200, 200, 429]
    assert AuditEvent.objects.filter(action="rate.limited").count() == 2


@override_settings(RATE_LIMIT_PER_MINUTE=2)
def test_it_counts_each_credential_apart(client_for, admin_token, read_token, frozen):
    admin, reader = client_for(admin_token), client_for(read_token)
    for _ in range(2):
        admin.get("/api/admin/tokens")
    assert admin.get("/api/admin/tokens").status_code == 429
    assert reader.get("/api/probe/can-read").status_code == 200
    assert reader.get("/api/probe/can-read").status_code == 200
    assert reader.get("/api/probe/can-read").status_code == 429


@override_settings(RATE_LIMIT_PER_MINUTE=2)
def test_it_reads_the_limit_when_called_not_at_import(client_for, admin_token, frozen):
    client = client_for(admin_token)
    with override_settings(RATE_LIMIT_PER_MINUTE=1):
        assert client.get("/api/admin/tokens").status_code == 200
        assert client.get("/api/admin/tokens").status_code == 429
    assert client.get("/api/admin/tokens").status_code == 429  # 3 > 2


@override_settings(RATE_LIMIT_PER_MINUTE=1)
def test_it_answers_429_in_the_fleet_dialect_on_fleet_routes(client_for, admin_token, frozen):
    client = client_for(admin_token)
    assert client.get("/admin/probe/fleet-admin").status_code == 200
    response = client.get("/admin/probe/fleet-admin")
    assert response.status_code == 429
    assert response["Retry-After"] == "45"
    assert response.json() == {"status": "error", "message": "Rate limit exceeded."}


@override_settings(RATE_LIMIT_PER_MINUTE=1, USAGE_API_PUBLIC=True)
def test_it_does_not_count_anonymous_public_reads(client_for, frozen):
    client = client_for(None)
    assert [client.get("/api/probe/usage-read").status_code for _ in range(5)] == [200] * 5


@override_settings(RATE_LIMIT_PER_MINUTE=1)
def test_it_lets_a_subclass_choose_the_key(client_for, embed_token, frozen):
    client = client_for(embed_token)
    assert client.get("/api/probe/per-ip", REMOTE_ADDR="198.51.100.1").status_code == 200
    assert client.get("/api/probe/per-ip", REMOTE_ADDR="198.51.100.2").status_code == 200
    assert client.get("/api/probe/per-ip", REMOTE_ADDR="198.51.100.1").status_code == 429


@override_settings(AUTH_FAIL_LIMIT=3, AUTH_FAIL_WINDOW_SECONDS=600)
def test_it_blocks_an_address_after_too_many_failed_authentications(
    client_for, admin_token, frozen
):
    attacker = client_for(BAD)
    for _ in range(3):
        assert attacker.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.7").status_code == 401
    blocked = attacker.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.7")
    assert blocked.status_code == 429
    assert blocked["Retry-After"] == str(600 - 15)
    # Even a valid credential waits from that address; other addresses are unaffected.
    admin = client_for(admin_token)
    assert admin.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.7").status_code == 429
    assert admin.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.8").status_code == 200
    assert attacker.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.8").status_code == 401
    frozen.shift(timedelta(seconds=585))
    assert admin.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.7").status_code == 200


@override_settings(AUTH_FAIL_LIMIT=2)
def test_it_audits_the_address_block_once_per_window(client_for, frozen):
    attacker = client_for(BAD)
    statuses = [
        attacker.get("/api/admin/tokens", REMOTE_ADDR="198.51.100.7").status_code for _ in range(5)
    ]
    assert statuses == [401, 401, 429, 429, 429]
    assert AuditEvent.objects.filter(action="auth.failed").count() == 2
    limited = AuditEvent.objects.get(action="rate.limited")
    assert limited.ip == "198.51.100.7"
    assert limited.meta["bucket"] == "authfail:198.51.100.7"
    assert BAD not in str(limited.meta)


@override_settings(AUTH_FAIL_LIMIT=2)
def test_it_counts_host_key_failures_against_the_same_address(client_for, frozen):
    client = client_for(None)
    for _ in range(2):
        response = client.get(
            "/api/probe/can-ingest", REMOTE_ADDR="198.51.100.7", HTTP_X_API_KEY="hk_wrong"
        )
        assert response.status_code == 401
    response = client.get("/api/probe/can-ingest", REMOTE_ADDR="198.51.100.7", HTTP_X_API_KEY="x")
    assert response.status_code == 429


@override_settings(AUTH_FAIL_LIMIT=2, TRUSTED_PROXIES=["10.0.0.0/8"])
def test_it_counts_failures_per_client_behind_a_trusted_proxy(client_for, admin_token, frozen):
    attacker = client_for(BAD)
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(2):
        attacker.get("/api/admin/tokens", HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy)
    blocked = attacker.get("/api/admin/tokens", HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy)
    assert blocked.status_code == 429
    # The proxy's other clients are not blocked with it.
    admin = client_for(admin_token)
    fine = admin.get("/api/admin/tokens", HTTP_X_FORWARDED_FOR="198.51.100.8", **via_proxy)
    assert fine.status_code == 200


@override_settings(AUTH_FAIL_LIMIT=2)
def test_it_does_not_count_requests_without_a_credential(client_for, admin_token, frozen):
    anonymous = client_for(None)
    for _ in range(5):
        assert anonymous.get("/api/admin/tokens").status_code == 401
    assert client_for(admin_token).get("/api/admin/tokens").status_code == 200
