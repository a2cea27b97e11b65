from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

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
