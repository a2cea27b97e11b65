"""`POST /auth` reads and counts in the cache in one round trip on Redis (the kill switch
snapshot, the address's failed-authentication count, the call count, the rate-limit count and
this month's usage: tests/hosts/test_auth_guarded_round.py), two elsewhere, and every limit
still holds exactly as when each was its own round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, 15, tzinfo=UTC)
RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@override_settings(RATE_LIMIT_PER_MINUTE=2)
def test_it_counts_each_call_once_against_the_host_rate_limit(host_client):
    statuses = [host_client.post("/auth", RETRIEVE, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@override_settings(RATE_LIMIT_PER_MINUTE=2)
def test_it_answers_the_rate_limit_in_the_fleet_dialect(host_client):
    for _ in range(2):
        host_client.post("/auth", RETRIEVE, format="json")

    refused = host_client.post("/auth", RETRIEVE, format="json")

    assert refused.status_code == 429
    assert refused.json()["status"] == "error"
    assert int(refused["Retry-After"]) == 60 - 15


@override_settings(AUTH_FAIL_LIMIT=2)
def test_it_refuses_a_valid_key_from_a_blocked_address(host_client, api_client):
    for _ in range(2):
        wrong = api_client.post(
            "/auth", RETRIEVE, format="json", HTTP_X_API_KEY="tfh_wrong", REMOTE_ADDR="127.0.0.1"
        )
        assert wrong.status_code == 401

    assert host_client.post("/auth", RETRIEVE, format="json").status_code == 429


def test_it_counts_api_calls_once_each(host_client):
    calls = [
        host_client.post("/auth", RETRIEVE, format="json").json()["data"]["api_calls"]
        for _ in range(3)
    ]

    assert calls == [1, 2, 3]


@pytest.mark.skipif(not settings.REDIS_URL, reason="counts Redis round trips")
def test_it_reads_and_counts_in_one_round_trip(host_client, monkeypatch):
    import redis.client

    trips: list[str] = []
    command = redis.client.Redis.execute_command
    pipeline = redis.client.Pipeline.execute

    def counted_command(self, *args, **kwargs):
        trips.append(" ".join(str(a)[:60] for a in args[:2]))
        return command(self, *args, **kwargs)

    def counted_pipeline(self, *args, **kwargs):
        trips.append("pipeline")
        return pipeline(self, *args, **kwargs)

    host_client.post("/auth", RETRIEVE, format="json")  # the snapshot and the sums get cached
    monkeypatch.setattr(redis.client.Redis, "execute_command", counted_command)
    monkeypatch.setattr(redis.client.Pipeline, "execute", counted_pipeline)

    response = host_client.post("/auth", RETRIEVE, format="json")

    assert response.status_code == 200
    # Nothing published the client version here: asking the runner for it is the only extra.
    own = [trip.split()[0] for trip in trips if "runner:requested:" not in trip]
    assert own == ["EVALSHA"], trips
