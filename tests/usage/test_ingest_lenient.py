"""Lenient where wigtoken's server is: `model: null` and `ts: null` are still usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from usage.models import ModelPrice, UsageRecord
from usage.selectors import UnpricedModel, unpriced_models

from .conftest import NOW, message, rollups_from_records, rollups_stored

pytestmark = pytest.mark.django_db


def test_it_stores_a_null_model_as_unknown_at_no_cost(ingest, frozen_now):
    response = ingest([message("msg_null_model", model=None, input_tokens=40, output_tokens=2)])

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "received": 1,
        "applied": 1,
        "duplicates": 0,
        "rejected": [],
    }
    row = UsageRecord.objects.get(message_id="msg_null_model")
    assert (row.model, row.model_family, row.cost_micros) == ("unknown", "unknown", 0)
    assert (row.input, row.output, row.tokens_weighted) == (40, 2, 40 + 2 * 5)


def test_it_takes_the_receive_time_for_a_null_ts(ingest, frozen_now):
    response = ingest([message("msg_null_ts", ts=None, output_tokens=3)])

    assert response.json()["applied"] == 1
    assert UsageRecord.objects.get(message_id="msg_null_ts").ts == NOW


def test_it_treats_absent_model_and_ts_like_null(ingest, frozen_now):
    body = message("msg_bare", output_tokens=1)
    del body["model"], body["ts"]

    assert ingest([body]).json()["applied"] == 1
    row = UsageRecord.objects.get(message_id="msg_bare")
    assert (row.model, row.ts) == ("unknown", NOW)


def test_it_counts_a_replay_of_lenient_messages_once(ingest, frozen_now):
    batch = [
        message("msg_null_model", model=None, input_tokens=1),
        message("msg_null_ts", ts=None, input_tokens=1),
        message("msg_normal", input_tokens=1),
    ]

    first = ingest(batch).json()
    replay = ingest(batch).json()

    assert (first["applied"], first["duplicates"]) == (3, 0)
    assert (replay["applied"], replay["duplicates"]) == (0, 3)
    assert UsageRecord.objects.count() == 3


def test_it_keeps_rollups_reads_and_the_unpriced_list_consistent(api_client, ingest, frozen_now):
    ingest(
        [
            message("u1", model=None, input_tokens=100, output_tokens=10),
            message("u2", model=None, ts=None, cache_read_input_tokens=50),
            message("m1", model="mystery-model", input_tokens=7),
            message("s1", ts=None, input_tokens=1000, output_tokens=100),
        ]
    )

    assert rollups_stored() == rollups_from_records()
    assert unpriced_models() == [
        UnpricedModel(model="mystery-model", messages=1, tokens=7),
        UnpricedModel(model="unknown", messages=2, tokens=160),
    ]
    totals = api_client.get("/api/usage/totals").json()["totals"]
    assert totals["messages"] == 4
    # Sonnet 4.6 (3 µ$ in, 15 µ$ out) is the only priced message: 1000×3 + 100×15.
    assert totals["costUsd"] == 0.0045
    families = api_client.get("/api/usage/leaderboard", {"by": "model_family"}).json()
    assert {entry["key"]: entry["messages"] for entry in families["entries"]} == {
        "sonnet": 1,
        "unknown": 3,
    }
    recent = api_client.get("/api/usage/recent").json()["entries"]
    # The two received without a ts are the newest: they happened "now".
    assert {(entry["messageId"], entry["ts"]) for entry in recent[:2]} == {
        ("u2", int(NOW.timestamp() * 1000)),
        ("s1", int(NOW.timestamp() * 1000)),
    }


def test_it_never_prices_the_unknown_model_even_when_a_prefix_would_match(ingest, frozen_now):
    # An operator's catch-all prefix must not give `unknown` a price, neither at ingest nor
    # when history is repriced.
    ModelPrice.objects.create(
        model_prefix="un",
        family="catch-all",
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
        input=1,
        output=1,
    )
    ingest(
        [
            message("u1", model=None, input_tokens=1000),
            message("u2", model="unknown-tool", input_tokens=1000),
        ]
    )

    out = StringIO()
    call_command("reprice", "--since", (NOW - timedelta(days=1)).isoformat(), stdout=out)

    unknown = UsageRecord.objects.get(message_id="u1")
    assert (unknown.model_family, unknown.cost_micros) == ("unknown", 0)
    # Only a real model id is matched by the prefix.
    assert UsageRecord.objects.get(message_id="u2").cost_micros == 1000
    assert [row.model for row in unpriced_models()] == ["unknown"]
    assert rollups_stored() == rollups_from_records()
