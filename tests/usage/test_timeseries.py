from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from usage.models import UsageRecord

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _series(api_client, **params) -> dict:
    response = api_client.get("/api/usage/timeseries", params)
    assert response.status_code == 200, response.content
    return response.json()


def _counts(body: dict) -> dict[int, int]:
    return {bucket["ts"]: bucket["messages"] for bucket in body["buckets"] if bucket["messages"]}


def test_it_answers_contiguous_zero_filled_hourly_buckets_for_the_last_7_days(
    api_client, frozen_now
):
    seed(
        record("m1", NOW - timedelta(hours=2, minutes=10), input=10, output=1),
        record("m2", NOW - timedelta(hours=2, minutes=50), input=5, cache_read=100),
        record("m3", NOW - timedelta(days=8)),  # before the default range
    )

    body = _series(api_client)

    assert body["step"] == HOUR_MS and body["tz"] == "UTC"
    assert body["from"] == _ms(NOW - timedelta(days=7)) and body["to"] == _ms(NOW)
    stamps = [bucket["ts"] for bucket in body["buckets"]]
    assert len(stamps) == 7 * 24
    assert all(b - a == HOUR_MS for a, b in zip(stamps, stamps[1:], strict=False))
    busy = [bucket for bucket in body["buckets"] if bucket["messages"]]
    assert busy == [
        {
            "ts": _ms(NOW - timedelta(hours=3)),
            "messages": 2,
            "tokensRaw": 10 + 1 + 5 + 100,
            "tokensWeighted": 15 + 5 + 10,
            "costUsd": (10 * 3 + 1 * 15 + 5 * 3 + 100 * 0.3) / 10**6,
        }
    ]


def test_it_aligns_buckets_to_multiples_of_the_step_and_widens_the_range(api_client, frozen_now):
    seed(
        record("m1", _at("2026-11-20T10:14:59Z")),
        record("m2", _at("2026-11-20T10:15:00Z")),
        record("m3", _at("2026-11-20T10:44:59.999Z")),
        record("m4", _at("2026-11-20T11:31:00Z")),
    )
    quarter = 15 * 60_000

    body = _series(
        api_client,
        **{"from": _ms(_at("2026-11-20T10:07:00Z")), "to": _ms(_at("2026-11-20T11:20:00Z"))},
        step=quarter,
    )

    assert body["from"] == _ms(_at("2026-11-20T10:00:00Z"))
    assert body["to"] == _ms(_at("2026-11-20T11:30:00Z"))
    assert len(body["buckets"]) == 6
    assert _counts(body) == {
        _ms(_at("2026-11-20T10:00:00Z")): 1,
        _ms(_at("2026-11-20T10:15:00Z")): 1,
        _ms(_at("2026-11-20T10:30:00Z")): 1,
    }


def test_it_reads_daily_buckets_that_agree_with_the_raw_rows(api_client, frozen_now):
    stamps = [NOW - timedelta(hours=5 * number + 1, minutes=number) for number in range(40)]
    seed(*[record(f"m{n}", ts, input=n, output=n) for n, ts in enumerate(stamps)])

    body = _series(api_client, **{"from": _ms(NOW - timedelta(days=9))}, step=DAY_MS)

    assert body["from"] == _ms(datetime(2026, 11, 12, tzinfo=UTC))
    assert body["to"] == _ms(datetime(2026, 11, 22, tzinfo=UTC))
    for bucket in body["buckets"]:
        start = datetime.fromtimestamp(bucket["ts"] / 1000, tz=UTC)
        expected = UsageRecord.objects.filter(ts__gte=start, ts__lt=start + timedelta(days=1))
        assert bucket["messages"] == expected.count()
    assert sum(bucket["messages"] for bucket in body["buckets"]) == 40


def test_it_aligns_day_buckets_to_local_midnight_across_a_dst_change(api_client, frozen_now):
    # Europe/Paris leaves summer time on 2026-10-25: that local day lasts 25 hours.
    seed(
        record("oct24_late", _at("2026-10-24T23:30:00+02:00")),
        record("oct25_early", _at("2026-10-25T00:30:00+02:00")),
        record("oct25_late", _at("2026-10-25T23:30:00+01:00")),
        record("oct26_early", _at("2026-10-26T00:30:00+01:00")),
    )

    body = _series(
        api_client,
        **{"from": _ms(_at("2026-10-24T12:00Z")), "to": _ms(_at("2026-10-26T12:00Z"))},
        step=DAY_MS,
        tz="Europe/Paris",
    )

    midnights = [
        _ms(_at("2026-10-24T00:00+02:00")),
        _ms(_at("2026-10-25T00:00+02:00")),
        _ms(_at("2026-10-26T00:00+01:00")),
    ]
    assert body["tz"] == "Europe/Paris"
    assert [bucket["ts"] for bucket in body["buckets"]] == midnights
    assert midnights[2] - midnights[1] == 25 * HOUR_MS
    assert body["to"] == _ms(_at("2026-10-27T00:00+01:00"))
    assert _counts(body) == {midnights[0]: 1, midnights[1]: 2, midnights[2]: 1}


def test_it_aligns_to_local_days_in_a_half_hour_zone(api_client, frozen_now):
    seed(
        record("before", _at("2026-11-19T23:59:00+05:30")),
        record("after", _at("2026-11-20T00:01:00+05:30")),
    )

    body = _series(
        api_client,
        **{"from": _ms(_at("2026-11-19T12:00+05:30")), "to": _ms(_at("2026-11-20T12:00+05:30"))},
        step=DAY_MS,
        tz="Asia/Kolkata",
    )

    assert _counts(body) == {
        _ms(_at("2026-11-19T00:00+05:30")): 1,
        _ms(_at("2026-11-20T00:00+05:30")): 1,
    }


def test_it_filters_a_series_by_user_machine_and_family(api_client, frozen_now):
    ts = NOW - timedelta(hours=1)
    seed(
        record("a", ts, user="alice", machine="alice-mbp", model="claude-opus-4-6"),
        record("b", ts, user="bob", machine="bob-box", model="claude-opus-4-6"),
        record("c", ts, user="bob", machine="bob-box", model="gpt-5"),
    )

    def total(**params) -> int:
        return sum(bucket["messages"] for bucket in _series(api_client, **params)["buckets"])

    assert total() == 3
    assert total(user="bob") == 2
    assert total(machine="alice-mbp") == 1
    assert total(model_family="opus") == 2
    assert total(user="bob", model_family="gpt-5") == 1


def test_it_answers_exactly_10000_buckets(api_client, frozen_now):
    body = _series(api_client, **{"from": _ms(NOW) - 10_000 * 60_000, "to": _ms(NOW)}, step=60_000)

    assert len(body["buckets"]) == 10_000


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"step": 59_999}, "step"),
        ({"step": "hourly"}, "step"),
        (
            {"step": 60_000, "from": 1_700_000_000_000, "to": 1_700_000_000_000 + 10_001 * 60_000},
            "step",
        ),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"from": 1_700_000_000_000, "to": 1_600_000_000_000}, "to"),
    ],
)
def test_it_refuses_bad_steps_ranges_and_zones_with_400(api_client, frozen_now, params, field):
    response = api_client.get("/api/usage/timeseries", params)

    assert response.status_code == 400
    assert field in response.json()["fields"]


@pytest.mark.parametrize(
    ("zone", "days"),
    [
        ("America/New_York", 12),
        ("Australia/Adelaide", 12),  # +10:30 / +9:30: half-hour local midnights
        ("Asia/Kolkata", 12),
        ("Europe/Paris", 260),  # more edges than one query ORs together
    ],
)
def test_it_matches_the_raw_rows_bucket_by_bucket_in_any_zone(api_client, frozen_now, zone, days):
    start = NOW - timedelta(days=days)
    stamps = [start + timedelta(minutes=37 * n + n % 7, seconds=n % 50) for n in range(300)]
    stamps += [start + timedelta(days=n, hours=n % 24) for n in range(days)]
    seed(*[record(f"m{n}", ts, output=n + 1) for n, ts in enumerate(stamps)])

    body = _series(api_client, **{"from": _ms(start), "to": _ms(NOW)}, step=DAY_MS, tz=zone)

    edges = [bucket["ts"] for bucket in body["buckets"]] + [body["to"]]
    for bucket, end in zip(body["buckets"], edges[1:], strict=True):
        rows = UsageRecord.objects.filter(
            ts__gte=datetime.fromtimestamp(bucket["ts"] / 1000, tz=UTC),
            ts__lt=datetime.fromtimestamp(end / 1000, tz=UTC),
        )
        assert bucket["messages"] == rows.count()
        assert bucket["costUsd"] == sum(row.cost_micros for row in rows) / 10**6
    assert sum(bucket["messages"] for bucket in body["buckets"]) == len(stamps)
