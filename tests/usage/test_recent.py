from __future__ import annotations

from datetime import timedelta

import pytest

from usage import selectors
from usage.aggregation import UsageFilter

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db


def _ids(api_client, **params) -> list[str]:
    response = api_client.get("/api/usage/recent", params)
    assert response.status_code == 200, response.content
    return [entry["messageId"] for entry in response.json()["entries"]]


def test_it_lists_the_newest_messages_first_with_their_numbers(api_client, frozen_now):
    newest = NOW - timedelta(minutes=1, milliseconds=250)
    seed(
        record("old", NOW - timedelta(days=2), output=1),
        record(
            "new",
            newest,
            model="claude-opus-4-6",
            input=1,
            cache_creation=2,
            cache_creation_1h=1,
            cache_read=3,
            output=4,
        ),
        record("mid", NOW - timedelta(hours=5), output=1),
    )

    body = api_client.get("/api/usage/recent").json()

    assert [entry["messageId"] for entry in body["entries"]] == ["new", "mid", "old"]
    assert body["entries"][0] == {
        "messageId": "new",
        "user": "alice",
        "machine": "alice-mbp",
        "model": "claude-opus-4-6",
        "modelFamily": "opus",
        "input": 1,
        "cacheCreation": 2,
        "cacheRead": 3,
        "output": 4,
        "reasoning": 0,
        # 1 + 2×1.25 + 3×0.1 + 4×5 = 23.8 → 24
        "tokensWeighted": 24,
        # 1×5 + 1×6.25 (5 m) + 1×10 (1 h) + 3×0.50 + 4×25 = 122.75 → 123 µ$
        "costUsd": 0.000123,
        "ts": int(newest.timestamp() * 1000),
        # wigtoken's names for the same numbers.
        "inputTokens": 1,
        "outputTokens": 4,
        "weightedInputEq": 24,
    }
    for entry in body["entries"]:
        assert entry["inputTokens"] == entry["input"]
        assert entry["outputTokens"] == entry["output"]
        assert entry["weightedInputEq"] == entry["tokensWeighted"]


def test_it_limits_the_feed(api_client, frozen_now):
    seed(*[record(f"m{n:03d}", NOW - timedelta(minutes=n)) for n in range(60)])

    assert _ids(api_client) == [f"m{n:03d}" for n in range(50)]
    assert _ids(api_client, limit=3) == ["m000", "m001", "m002"]
    assert len(_ids(api_client, limit=500)) == 60


def test_it_finds_the_newest_messages_of_a_quiet_machine_among_busy_ones(api_client, frozen_now):
    busy = [record(f"busy{n:03d}", NOW - timedelta(minutes=n), machine="ci-1") for n in range(90)]
    quiet = [
        record("quiet-a", NOW - timedelta(days=40), machine="laptop", user="bob"),
        record("quiet-b", NOW - timedelta(days=10, minutes=3), machine="laptop", user="bob"),
        record("quiet-c", NOW - timedelta(days=10, minutes=1), machine="laptop", user="bob"),
        record("quiet-d", NOW - timedelta(minutes=30, seconds=30), machine="laptop", user="bob"),
    ]
    seed(*busy, *quiet)

    assert _ids(api_client, machine="laptop") == ["quiet-d", "quiet-c", "quiet-b", "quiet-a"]
    assert _ids(api_client, user="bob", limit=2) == ["quiet-d", "quiet-c"]
    assert _ids(api_client, machine="ci-1", limit=2) == ["busy000", "busy001"]
    assert _ids(api_client, model_family="sonnet", limit=1) == ["busy000"]
    assert _ids(api_client, machine="nowhere") == []


def test_it_applies_a_time_range(api_client, frozen_now):
    seed(*[record(f"m{n}", NOW - timedelta(hours=n)) for n in range(6)])
    start = int((NOW - timedelta(hours=4, minutes=30)).timestamp() * 1000)
    end = int((NOW - timedelta(hours=1, minutes=30)).timestamp() * 1000)

    assert _ids(api_client, **{"from": start, "to": end}) == ["m2", "m3", "m4"]
    assert _ids(api_client, user="alice", **{"from": start, "to": end}) == ["m2", "m3", "m4"]


@pytest.mark.parametrize("limit", [0, 501, "all"])
def test_it_refuses_a_limit_outside_1_to_500(api_client, db, limit):
    response = api_client.get("/api/usage/recent", {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()["fields"]


def test_it_hands_the_dashboard_exact_aware_times(frozen_now):
    """selectors.recent reads `ts` as epoch microseconds on PostgreSQL and as naive UTC on
    SQLite; either way the rows carry the stored instant, microseconds included."""
    exact = NOW - timedelta(hours=3, microseconds=123_457)
    seed(record("exact", exact, machine="quiet"), record("other", NOW - timedelta(days=1)))

    for flt in (UsageFilter(), UsageFilter(machine="quiet"), UsageFilter(user="alice")):
        rows = selectors.recent(flt, limit=5)
        assert rows[0]["ts"] == exact
        assert rows[0]["ts"].utcoffset() == timedelta(0)


def test_it_floors_sub_millisecond_times_in_the_feed(api_client, frozen_now):
    seed(record("late", NOW - timedelta(seconds=1, microseconds=999)))

    entry = api_client.get("/api/usage/recent").json()["entries"][0]

    assert entry["ts"] == int(NOW.timestamp() * 1000) - 1001
