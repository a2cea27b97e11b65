from __future__ import annotations

from datetime import timedelta

import pytest

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(frozen_now):
    seed(
        record("a1", NOW - timedelta(hours=1), machine="alice-mbp", output=10),
        record("a2", NOW - timedelta(days=3), machine="alice-desktop", output=2, input=100),
        record("a3", NOW - timedelta(hours=2), machine="alice-mbp", model="gpt-5", output=100),
        record("b1", NOW - timedelta(hours=1), user="bob", machine="bob-box", output=999),
        record("s1", NOW - timedelta(hours=1), user="team lead/ops", machine="ops", output=1),
    )


def test_it_details_a_user_by_family_and_machine(api_client, alice):
    response = api_client.get("/api/usage/users/alice")

    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "alice"
    assert body["totals"] == {
        "input": 100,
        "cacheCreation": 0,
        "cacheRead": 0,
        "output": 112,
        "sum": 212,
        "messages": 3,
        "costUsd": (10 * 15 + 2 * 15 + 100 * 3 + 100 * 10) / 10**6,
        # input + 5 × output, once under our name and once under wigtoken's.
        "tokensWeighted": 100 + 5 * 112,
        "weightedInputEq": 100 + 5 * 112,
    }
    assert [(row["modelFamily"], row["messages"], row["costUsd"]) for row in body["perFamily"]] == [
        ("gpt-5", 1, 0.001),
        ("sonnet", 2, 0.00048),
    ]
    assert [(row["machine"], row["messages"]) for row in body["perMachine"]] == [
        ("alice-mbp", 2),
        ("alice-desktop", 1),
    ]
    assert set(body["perMachine"][0]) == {
        "machine",
        "input",
        "cacheCreation",
        "cacheRead",
        "output",
        "sum",
        "messages",
        "costUsd",
    }


def test_it_applies_the_range_and_filters_to_a_known_user(api_client, alice):
    since = int((NOW - timedelta(days=1)).timestamp())

    recent = api_client.get("/api/usage/users/alice", {"from": since}).json()
    mbp = api_client.get("/api/usage/users/alice", {"machine": "alice-desktop", "from": since})

    assert recent["totals"]["messages"] == 2
    assert [row["machine"] for row in recent["perMachine"]] == ["alice-mbp"]
    assert mbp.status_code == 200 and mbp.json()["totals"]["messages"] == 0


def test_it_answers_404_for_a_user_never_seen(api_client, alice):
    response = api_client.get("/api/usage/users/mallory")

    assert response.status_code == 404
    assert response.json() == {"error": "Unknown user."}


def test_it_finds_a_user_whose_name_needs_escaping(api_client, alice):
    response = api_client.get("/api/usage/users/team%20lead%2Fops")

    assert response.status_code == 200
    assert response.json()["user"] == "team lead/ops"
