from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Count, Sum

from usage.models import UsageRecord

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db

HEADER = [
    "user",
    "machine",
    "model",
    "model_family",
    "messages",
    "input",
    "cache_creation",
    "cache_creation_1h",
    "cache_read",
    "output",
    "reasoning",
    "tokens_weighted",
    "cost_usd",
]


@pytest.fixture
def usage(frozen_now):
    day = NOW - timedelta(days=1)
    seed(
        record("a1", day, output=10, cache_creation=8, cache_creation_1h=3, cache_read=50),
        record("a2", NOW - timedelta(days=5), output=5, input=1),
        record("a3", day, model="claude-opus-4-6", output=7),
        record("b1", day, user="bob", machine="bob, the box", model='gpt-5 "mini"', output=1),
        record(
            "c1",
            day,
            user="carol",
            machine="carol-vm",
            model="gpt-5.1-codex",
            output=40,
            reasoning=12,
        ),
    )


def test_it_answers_one_row_per_user_machine_and_model(api_client, usage):
    body = api_client.get("/api/usage/breakdown").json()

    assert body["timestamp"] == int(NOW.timestamp())
    assert [(row["user"], row["machine"], row["model"]) for row in body["rows"]] == [
        ("alice", "alice-mbp", "claude-opus-4-6"),
        ("alice", "alice-mbp", "claude-sonnet-4-6"),
        ("bob", "bob, the box", 'gpt-5 "mini"'),
        ("carol", "carol-vm", "gpt-5.1-codex"),
    ]
    sonnet = body["rows"][1]
    assert sonnet == {
        "user": "alice",
        "machine": "alice-mbp",
        "model": "claude-sonnet-4-6",
        "modelFamily": "sonnet",
        "messages": 2,
        "input": 1,
        "cacheCreation": 8,
        "cacheCreation1h": 3,
        "cacheRead": 50,
        "output": 15,
        "reasoning": 0,
        "tokensWeighted": 1 + 10 + 5 + 75,
        # a1: 5×3.75 + 3×6 + 50×0.30 + 10×15 = 201.75 → 202; a2: 1×3 + 5×15 = 78 µ$
        "costUsd": 0.00028,
    }
    assert body["rows"][3]["reasoning"] == 12


def test_it_adds_wigtokens_tokens_and_cost_arrays(api_client, usage):
    body = api_client.get("/api/usage/breakdown").json()

    assert set(body) == {"rows", "tokens", "cost", "timestamp"}
    # Only non-zero kinds, in kind order, for each user × machine × model.
    assert [entry for entry in body["tokens"] if entry["user"] == "alice"] == [
        {
            "user": "alice",
            "machine": "alice-mbp",
            "model": "claude-opus-4-6",
            "modelFamily": "opus",
            "kind": "output",
            "tokens": 7,
        },
        *[
            {
                "user": "alice",
                "machine": "alice-mbp",
                "model": "claude-sonnet-4-6",
                "modelFamily": "sonnet",
                "kind": kind,
                "tokens": tokens,
            }
            for kind, tokens in [
                ("input", 1),
                ("cacheCreation", 8),
                ("cacheRead", 50),
                ("output", 15),
            ]
        ],
    ]
    assert [entry["kind"] for entry in body["tokens"] if entry["user"] == "carol"] == [
        "output",
        "reasoning",
    ]
    assert body["cost"] == [
        {
            "user": "alice",
            "machine": "alice-mbp",
            "modelFamily": "opus",
            "messages": 1,
            "costUsd": 0.000175,  # 7 × 25 µ$
            "weightedInputEq": 35,
        },
        {
            "user": "alice",
            "machine": "alice-mbp",
            "modelFamily": "sonnet",
            "messages": 2,
            "costUsd": 0.00028,
            "weightedInputEq": 1 + 10 + 5 + 75,
        },
        {
            "user": "bob",
            "machine": "bob, the box",
            "modelFamily": "gpt-5",  # 'gpt-5 "mini"' matches the gpt-5 prefix
            "messages": 1,
            "costUsd": 0.00001,
            "weightedInputEq": 5,
        },
        {
            "user": "carol",
            "machine": "carol-vm",
            "modelFamily": "gpt-5",
            "messages": 1,
            "costUsd": 0.0004,  # 40 × 10 µ$
            "weightedInputEq": 200,
        },
    ]


KINDS = {
    "input": "input",
    "cacheCreation": "cacheCreation",
    "cacheRead": "cacheRead",
    "output": "output",
    "reasoning": "reasoning",
}


def _arithmetic_holds(api_client, **params) -> None:
    body = api_client.get("/api/usage/breakdown", params).json()
    totals = api_client.get("/api/usage/totals", params).json()["totals"]

    # `tokens` sums back to `rows`, kind by kind and row by row.
    from_tokens: dict[tuple, int] = {}
    for entry in body["tokens"]:
        assert entry["tokens"] > 0
        key = (entry["user"], entry["machine"], entry["model"], entry["modelFamily"], entry["kind"])
        assert key not in from_tokens
        from_tokens[key] = entry["tokens"]
    from_rows = {
        (row["user"], row["machine"], row["model"], row["modelFamily"], kind): row[field]
        for row in body["rows"]
        for kind, field in KINDS.items()
        if row[field]
    }
    assert from_tokens == from_rows
    # `cost` sums back to the totals' cost and messages (compared in micro-USD).
    assert round(sum(entry["costUsd"] for entry in body["cost"]) * 10**6) == round(
        totals["costUsd"] * 10**6
    )
    assert sum(entry["messages"] for entry in body["cost"]) == totals["messages"]
    assert sum(entry["weightedInputEq"] for entry in body["cost"]) == sum(
        row["tokensWeighted"] for row in body["rows"]
    )


def test_it_keeps_the_arrays_summing_back_to_rows_and_totals(api_client, usage):
    _arithmetic_holds(api_client)
    _arithmetic_holds(api_client, user="alice")
    _arithmetic_holds(api_client, **{"from": int((NOW - timedelta(days=2)).timestamp())})


def test_it_sums_many_families_and_machines_exactly(api_client, frozen_now):
    models = ["claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5", "gpt-5", "mystery"]
    seed(
        *[
            record(
                f"m{n}",
                NOW - timedelta(hours=n % 50),
                user=f"user{n % 3}",
                machine=f"box{n % 4}",
                model=models[n % len(models)],
                input=n * 7 % 1000,
                cache_creation=n * 13 % 500,
                cache_creation_1h=n * 13 % 500 // 3,
                cache_read=n * 31 % 9000,
                output=n * 17 % 700,
                reasoning=n % 5,
            )
            for n in range(240)
        ]
    )

    _arithmetic_holds(api_client)
    _arithmetic_holds(api_client, machine="box1")


def test_it_narrows_the_breakdown_by_range_and_filters(api_client, usage):
    since = int((NOW - timedelta(days=2)).timestamp() * 1000)

    rows = api_client.get("/api/usage/breakdown", {"from": since, "user": "alice"}).json()["rows"]

    assert [(row["model"], row["messages"]) for row in rows] == [
        ("claude-opus-4-6", 1),
        ("claude-sonnet-4-6", 1),
    ]


def test_it_serves_the_same_rows_as_csv(api_client, usage):
    json_rows = api_client.get("/api/usage/breakdown").json()["rows"]

    response = api_client.get("/api/usage/breakdown.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="usage-breakdown.csv"'
    parsed = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert parsed[0] == HEADER
    rows = [dict(zip(HEADER, values, strict=True)) for values in parsed[1:]]
    as_json = [
        {
            "user": row["user"],
            "machine": row["machine"],
            "model": row["model"],
            "modelFamily": row["model_family"],
            "messages": int(row["messages"]),
            "input": int(row["input"]),
            "cacheCreation": int(row["cache_creation"]),
            "cacheCreation1h": int(row["cache_creation_1h"]),
            "cacheRead": int(row["cache_read"]),
            "output": int(row["output"]),
            "reasoning": int(row["reasoning"]),
            "tokensWeighted": int(row["tokens_weighted"]),
            "costUsd": float(row["cost_usd"]),
        }
        for row in rows
    ]
    assert as_json == json_rows
    assert '"bob, the box","gpt-5 ""mini"""' in response.content.decode()


def test_it_defuses_formulas_in_client_chosen_text(api_client, frozen_now):
    seed(
        record("x1", NOW - timedelta(hours=1), user='=HYPERLINK("http://evil")', machine="-m"),
        record("x2", NOW - timedelta(hours=1), user="@sum", model="+model"),
    )

    text = api_client.get("/api/usage/breakdown.csv").content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert {(row["user"], row["machine"], row["model"]) for row in rows} == {
        ('\'=HYPERLINK("http://evil")', "'-m", "claude-sonnet-4-6"),
        ("'@sum", "alice-mbp", "'+model"),
    }
    # Numbers are never prefixed: they are ours, not the client's.
    assert all(not row["messages"].startswith("'") for row in rows)


def test_it_answers_a_header_only_csv_when_empty(api_client, db):
    response = api_client.get("/api/usage/breakdown.csv")

    assert response.content.decode() == ",".join(HEADER) + "\r\n"


def _rows_from_records(ts_from, ts_to) -> list[dict]:
    """The breakdown's rows computed straight from the raw records in [ts_from, ts_to)."""
    records = UsageRecord.objects.filter(ts__gte=ts_from, ts__lt=ts_to)
    groups = (
        records.values("user", "machine", "model", "model_family")
        .annotate(
            n=Count("id"),
            i=Sum("input"),
            cc=Sum("cache_creation"),
            cc1h=Sum("cache_creation_1h"),
            cr=Sum("cache_read"),
            o=Sum("output"),
            r=Sum("reasoning"),
            w=Sum("tokens_weighted"),
            c=Sum("cost_micros"),
        )
        .order_by("user", "machine", "model", "model_family")
    )
    return [
        {
            "user": g["user"],
            "machine": g["machine"],
            "model": g["model"],
            "modelFamily": g["model_family"],
            "messages": g["n"],
            "input": g["i"],
            "cacheCreation": g["cc"],
            "cacheCreation1h": g["cc1h"],
            "cacheRead": g["cr"],
            "output": g["o"],
            "reasoning": g["r"],
            "tokensWeighted": g["w"],
            "costUsd": g["c"] / 10**6,
        }
        for g in groups
    ]


@pytest.mark.parametrize(
    "start, end",
    [
        # Whole UTC days (the dashboard's ranges: one grain, read as it is), whole hours, under
        # an hour (raw records only), and ragged ends (days, hours and raw pieces added up).
        (timedelta(days=3), timedelta(days=0)),
        (timedelta(hours=20), timedelta(hours=2)),
        (timedelta(minutes=50), timedelta(minutes=5)),
        (timedelta(days=2, hours=5, minutes=17), timedelta(minutes=33)),
    ],
)
def test_it_sums_any_range_as_the_raw_records_do(api_client, frozen_now, start, end):
    midnight = NOW.replace(hour=0)
    seed(
        *[
            record(
                f"r{n}",
                midnight + timedelta(hours=12) - timedelta(minutes=37 * n),
                user=("alice", "bob")[n % 2],
                machine=("m1", "m2", "m3")[n % 3],
                model=("claude-opus-4-6", "claude-sonnet-4-6", "gpt-5")[n % 3],
                input=n,
                cache_creation=2 * n,
                cache_creation_1h=n // 2,
                cache_read=3 * n,
                output=n % 7,
                reasoning=n % 2,
            )
            for n in range(200)
        ]
    )
    ts_from, ts_to = midnight + timedelta(hours=12) - start, midnight + timedelta(hours=12) - end
    if start >= timedelta(days=1) and end == timedelta(0):
        ts_from, ts_to = midnight - start, midnight

    body = api_client.get(
        "/api/usage/breakdown",
        {"from": int(ts_from.timestamp() * 1000), "to": int(ts_to.timestamp() * 1000)},
    ).json()

    assert body["rows"] == _rows_from_records(ts_from, ts_to)
    assert body["rows"]
