from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(frozen_now):
    """µ$ (Sonnet 4.6: 3 input, 15 output; Opus 4.6: 25 output):
    bob 321, alice 150 + 15 (20 days ago) + 150 (Opus), carol 300, erin 300, dave 0 (no price)."""
    day = NOW - timedelta(days=1)
    seed(
        record("a1", day, user="alice", machine="alice-mbp", output=10),
        record("a2", NOW - timedelta(days=20), user="alice", machine="alice-mbp", output=1),
        record("a3", day, user="alice", machine="shared", model="claude-opus-4-6", output=6),
        record("b1", day, user="bob", machine="bob-box", output=20, input=7),
        record("c1", day, user="carol", machine="carol-vm", output=20),
        record("e1", day, user="erin", machine="erin-x", output=20),
        record("d1", day, user="dave", machine="dave-pc", model="mystery-model", output=99),
    )


def _keys(api_client, **params) -> list[tuple[str, float]]:
    response = api_client.get("/api/usage/leaderboard", params)
    assert response.status_code == 200, response.content
    return [(entry["key"], entry["costUsd"]) for entry in response.json()["entries"]]


def test_it_orders_users_by_cost_then_name(api_client, board):
    assert _keys(api_client) == [
        ("bob", 0.000321),
        ("alice", 0.000315),
        ("carol", 0.0003),
        ("erin", 0.0003),
        ("dave", 0.0),
    ]


def test_it_answers_the_entry_shape(api_client, board):
    body = api_client.get("/api/usage/leaderboard", {"by": "user", "limit": 1}).json()

    assert body == {
        "by": "user",
        "entries": [
            {
                "key": "bob",
                "messages": 1,
                "tokens": {"input": 7, "cacheCreation": 0, "cacheRead": 0, "output": 20, "sum": 27},
                "tokensWeighted": 107,
                "weightedInputEq": 107,
                "costUsd": 0.000321,
            }
        ],
    }


@pytest.mark.parametrize("by", ["user", "machine", "model_family"])
def test_it_carries_wigtokens_weighted_input_eq_on_every_entry(api_client, board, by):
    entries = api_client.get("/api/usage/leaderboard", {"by": by}).json()["entries"]

    assert entries
    for entry in entries:
        assert isinstance(entry["weightedInputEq"], int)
        assert entry["weightedInputEq"] == entry["tokensWeighted"]
    # Weighted tokens (input + 1.25 cache writes + 0.1 cache reads + 5 output) of all seven.
    assert sum(entry["weightedInputEq"] for entry in entries) == (
        5 * (10 + 1 + 6 + 20 + 20 + 20 + 99) + 7
    )


def test_it_groups_by_machine_and_by_family(api_client, board):
    assert _keys(api_client, by="machine") == [
        ("bob-box", 0.000321),
        ("carol-vm", 0.0003),
        ("erin-x", 0.0003),
        ("alice-mbp", 0.000165),
        ("shared", 0.00015),
        ("dave-pc", 0.0),
    ]
    assert _keys(api_client, by="model_family") == [
        ("sonnet", 0.001086),
        ("opus", 0.00015),
        ("unknown", 0.0),
    ]


def test_it_applies_range_and_filters_and_the_limit(api_client, board):
    since = int((NOW - timedelta(days=2)).timestamp() * 1000)

    assert _keys(api_client, **{"from": since}, limit=3) == [
        ("bob", 0.000321),
        ("alice", 0.0003),
        ("carol", 0.0003),
    ]
    assert _keys(api_client, by="machine", user="alice") == [
        ("alice-mbp", 0.000165),
        ("shared", 0.00015),
    ]
    assert _keys(api_client, by="user", model_family="opus") == [("alice", 0.00015)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "model"}, "by"),
        ({"by": "USER"}, "by"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_it_refuses_an_unknown_grouping_or_limit_with_400(api_client, db, params, field):
    response = api_client.get("/api/usage/leaderboard", params)

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_it_accepts_the_largest_limit(api_client, board):
    assert len(_keys(api_client, limit=100)) == 5
