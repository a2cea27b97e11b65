"""On Redis a steady `POST /auth` (a known active host calling from its bound address) reads
the kill switch and the address's failed-authentication count and counts the call in one
script (core.cache.GuardedRound): the call is counted only if, in that same step, the kill
switch is off and the address is not blocked. A call any rule refuses counts nothing, on Redis
as on the in-memory cache (where the same rules run in Python). That every outcome answers
the same through DRF's AuthApi (two round trips) and the plain route (this one) is
tests/hosts/test_auth_plain_route.py, which runs on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from core.cache import GuardedRound, guarded_round_run, guarded_round_supported
from hosts import selectors
from hosts.fleetauth.services import api_state_set

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, 15, tzinfo=UTC)
RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}
redis_only = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis script")


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _call(client, **extra) -> tuple[int, int | None]:
    response = client.post("/auth", RETRIEVE, format="json", **extra)
    data = response.json().get("data") or {}
    return response.status_code, data.get("api_calls")


@override_settings(RATE_LIMIT_PER_MINUTE=3)
def test_a_call_the_kill_switch_refuses_counts_neither_the_call_nor_the_rate(host_client):
    assert _call(host_client) == (200, 1)
    api_state_set(disabled=True)
    assert [_call(host_client)[0] for _ in range(3)] == [503, 503, 503]
    api_state_set(disabled=False)

    assert [_call(host_client) for _ in range(3)] == [(200, 2), (200, 3), (429, None)]


@override_settings(AUTH_FAIL_LIMIT=2)
def test_a_call_from_a_blocked_address_counts_nothing(host_client, api_client, frozen):
    assert _call(host_client) == (200, 1)
    for _ in range(2):
        assert _call(api_client, HTTP_X_API_KEY="tfh_wrong", REMOTE_ADDR="127.0.0.1")[0] == 401

    assert _call(host_client)[0] == 429
    frozen.shift(timedelta(seconds=settings.AUTH_FAIL_WINDOW_SECONDS))
    assert _call(host_client) == (200, 2)


def test_a_call_from_another_address_counts_nothing(host_client):
    assert _call(host_client) == (200, 1)

    assert _call(host_client, REMOTE_ADDR="10.9.8.7")[0] == 403
    assert _call(host_client) == (200, 2)


@redis_only
@pytest.mark.parametrize(
    "dropped",
    [
        [selectors.FLEET_STATE_KEY],
        [selectors.FLEET_DISABLED_KEY],
        [selectors.FLEET_STATE_KEY, selectors.FLEET_DISABLED_KEY],
    ],
)
def test_a_call_is_counted_once_when_the_snapshot_or_its_flag_is_missing(host_client, dropped):
    assert _call(host_client) == (200, 1)
    cache.delete_many(dropped)

    assert _call(host_client) == (200, 2)  # counted after the IP rule, as elsewhere
    assert _call(host_client) == (200, 3)  # the snapshot is back: counted by the script


@redis_only
def test_the_kill_switch_flag_is_written_and_dropped_with_the_snapshot(host_client):
    _call(host_client)
    assert cache.get(selectors.FLEET_DISABLED_KEY) == 0
    assert cache.get(selectors.FLEET_STATE_KEY).api_disabled is False

    api_state_set(disabled=True)
    assert cache.get_many([selectors.FLEET_STATE_KEY, selectors.FLEET_DISABLED_KEY]) == {}

    assert _call(host_client)[0] == 503
    assert cache.get(selectors.FLEET_DISABLED_KEY) == 1
    assert cache.get(selectors.FLEET_STATE_KEY).api_disabled is True


def test_the_in_memory_cache_has_no_script():
    assert guarded_round_supported() == bool(settings.REDIS_URL)


OPS: list[tuple[str, str, int | None]] = [
    ("incr", "t:calls", None),
    ("incr", "t:window", 65),
    ("get", "t:read", None),
]
GUARD = GuardedRound(flag="t:flag", snapshot="t:snapshot", counter="t:failures", limit=2)


def _ttl(key: str) -> int:
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    return int(client.ttl(cache.make_key(key)))


@redis_only
def test_the_script_runs_the_operations_when_the_guard_lets_it():
    cache.set_many({"t:flag": 0, "t:snapshot": {"state": 1}, "t:failures": 1, "t:read": "x"})

    snapshot, failures, results = guarded_round_run(GUARD, OPS)

    assert (snapshot, failures, results) == ({"state": 1}, 1, [1, 1, "x"])
    assert 60 < _ttl("t:window") <= 65
    assert _ttl("t:calls") == -1  # no expiry
    assert guarded_round_run(GUARD, OPS)[2] == [2, 2, "x"]


@redis_only
@pytest.mark.parametrize(
    ("values", "read"),
    [
        ({"t:flag": 1, "t:snapshot": "s", "t:failures": 1}, ("s", 1)),  # kill switch on
        ({"t:flag": 0, "t:snapshot": "s", "t:failures": 2}, ("s", 2)),  # address blocked
        ({"t:flag": 0, "t:failures": 1}, (None, 1)),  # no snapshot
        ({"t:snapshot": "s"}, ("s", None)),  # no flag
    ],
)
def test_the_script_runs_nothing_when_the_guard_refuses(values, read):
    cache.set_many(values)

    snapshot, failures, results = guarded_round_run(GUARD, OPS)

    assert ((snapshot, failures), results) == (read, None)
    assert cache.get_many(["t:calls", "t:window"]) == {}
