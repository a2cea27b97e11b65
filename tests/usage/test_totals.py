from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from usage.aggregation import Piece, plan_range

from .conftest import NOW, raw_sums, record, seed

pytestmark = pytest.mark.django_db

T = datetime(2026, 11, 18, tzinfo=UTC)


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@pytest.fixture
def spread(frozen_now):
    """Records every 20 minutes over four days, for two users, three machines, two families."""
    records = []
    for number in range(4 * 72):
        ts = T - timedelta(days=1) + timedelta(minutes=20 * number, seconds=number % 60)
        records.append(
            record(
                f"msg_{number:04d}",
                ts,
                user=("alice", "bob")[number % 2],
                machine=("alice-mbp", "bob-box", "ci-1")[number % 3],
                model=("claude-opus-4-6", "claude-haiku-4-5")[number % 5 == 0],
                input=number + 1,
                cache_creation=number * 3,
                cache_creation_1h=number,
                cache_read=number * 11,
                output=number * 2,
            )
        )
    seed(*records)
    return records


RANGES = [
    (T + timedelta(hours=5, minutes=7), T + timedelta(hours=5, minutes=41)),  # inside an hour
    (T + timedelta(hours=5, minutes=7), T + timedelta(hours=9, minutes=3)),  # hours + edges
    (T - timedelta(hours=3, minutes=30), T + timedelta(days=1, hours=2, minutes=1)),  # days too
    (T - timedelta(days=1), T + timedelta(days=2)),  # whole days only
    (T + timedelta(hours=1), T + timedelta(hours=3)),  # whole hours only
    (T + timedelta(seconds=1), T + timedelta(days=2, seconds=-1)),
    (T + timedelta(hours=13, minutes=50), T + timedelta(days=2, hours=13, minutes=10)),
    (T - timedelta(minutes=20), T + timedelta(days=1, minutes=40)),
    (T + timedelta(hours=11), T + timedelta(hours=23, minutes=59)),
    (T + timedelta(hours=12, minutes=30), T + timedelta(days=1, hours=12, minutes=30)),
]


@pytest.mark.parametrize(("start", "end"), RANGES)
def test_it_sums_any_range_exactly_as_the_raw_rows(spread, api_client, start, end):
    body = api_client.get("/api/usage/totals", {"from": _ms(start), "to": _ms(end)}).json()

    assert body["totals"] == raw_sums(ts__gte=start, ts__lt=end)
    assert body["totals"]["messages"] > 0


@pytest.mark.parametrize(
    "params",
    [
        {"user": "bob"},
        {"machine": "ci-1"},
        {"model_family": "haiku"},
        {"user": "alice", "machine": "alice-mbp", "model_family": "opus"},
    ],
)
def test_it_filters_by_user_machine_and_family_with_and_without_a_range(spread, api_client, params):
    start, end = RANGES[2]

    unbounded = api_client.get("/api/usage/totals", params).json()["totals"]
    bounded = api_client.get(
        "/api/usage/totals", {**params, "from": _ms(start), "to": _ms(end)}
    ).json()["totals"]

    assert unbounded == raw_sums(**params)
    assert bounded == raw_sums(ts__gte=start, ts__lt=end, **params)
    assert 0 < bounded["messages"] < unbounded["messages"]


def test_it_accepts_open_ended_ranges_in_seconds_and_iso(spread, api_client):
    start = T + timedelta(hours=7, minutes=30)

    since = api_client.get("/api/usage/totals", {"from": int(start.timestamp())}).json()
    until = api_client.get("/api/usage/totals", {"to": start.isoformat()}).json()

    assert since["totals"] == raw_sums(ts__gte=start)
    assert until["totals"] == raw_sums(ts__lt=start)
    assert since["totals"]["messages"] + until["totals"]["messages"] == len(spread)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "1e999"}, "to"),
        ({"from": _ms(T), "to": _ms(T)}, "to"),
        ({"user": "x" * 256}, "user"),
    ],
)
def test_it_refuses_bad_filters_with_400(api_client, db, params, field):
    response = api_client.get("/api/usage/totals", params)

    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request."
    assert field in response.json()["fields"]


def test_it_answers_zeros_and_the_time_when_nothing_is_stored(api_client, frozen_now):
    assert api_client.get("/api/usage/totals").json() == {
        "totals": {
            "input": 0,
            "cacheCreation": 0,
            "cacheRead": 0,
            "output": 0,
            "sum": 0,
            "messages": 0,
            "costUsd": 0.0,
        },
        "timestamp": int(NOW.timestamp()),
    }


def test_it_cuts_a_range_into_signed_days_hours_and_raw_edges():
    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    pieces = plan_range(at(18, 22, 15), at(21, 3, 40))

    # Each end goes to its nearest hour, then to that hour's nearest midnight.
    assert pieces == [
        Piece("hour", at(18, 22), at(19, 0), 1),
        Piece("raw", at(18, 22), at(18, 22, 15), -1),
        Piece("hour", at(21, 0), at(21, 4), 1),
        Piece("raw", at(21, 3, 40), at(21, 4), -1),
        Piece("day", date(2026, 11, 19), date(2026, 11, 21), 1),
    ]
    assert plan_range(at(18, 10, 5), at(18, 13, 50)) == [
        Piece("raw", at(18, 10), at(18, 10, 5), -1),
        Piece("hour", at(18, 10), at(18, 14), 1),
        Piece("raw", at(18, 13, 50), at(18, 14), -1),
    ]
    assert plan_range(at(18, 10, 5), at(18, 10, 50)) == [
        Piece("raw", at(18, 10, 5), at(18, 10, 50), 1)
    ]
    assert plan_range(None, at(18, 13)) == [
        Piece("hour", at(18, 13), at(19, 0), -1),
        Piece("day", None, date(2026, 11, 19), 1),
    ]
    assert plan_range(None, None) is None


def test_it_reads_an_unencoded_plus_offset_as_the_audit_route_does(spread, api_client):
    start = T + timedelta(hours=7, minutes=30)
    local = start.astimezone(timezone(timedelta(hours=1))).isoformat()  # ...+01:00

    # What a client sends when it forgets to encode "+": the server sees " 01:00".
    body = api_client.get(f"/api/usage/totals?from={local}").json()

    assert body["totals"] == raw_sums(ts__gte=start)
