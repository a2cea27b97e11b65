from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.models import AuditEvent
from usage.models import UsageRecord, UsageTotal
from usage.signals import usage_changed

from .conftest import NOW, message

pytestmark = pytest.mark.django_db

TS = int(NOW.timestamp()) - 7200

# Hand-computed with PRICES.md (USD per million tokens == micro-USD per token).
KNOWN_BATCH = [
    # Opus 4.6: 5 input, 6.25 5m write, 10 1h write, 0.50 read, 25 output.
    # 1000×5 + 3000×6.25 + 1000×10 + 20000×0.5 + 2000×25 = 93 750 µ$
    message(
        "msg_opus",
        "claude-opus-4-6",
        input_tokens=1000,
        cache_creation_input_tokens=4000,
        cache_creation_1h_input_tokens=1000,
        cache_read_input_tokens=20000,
        output_tokens=2000,
        ts=TS,
    ),
    # Sonnet 4.5, prompt 50 000 + 100 000 + 60 000 = 210 000 > 200k: the whole request at the
    # tier 6 / 7.50 / 12 / 0.60 / 22.50: 300 000 + 750 000 + 36 000 + 67 500 = 1 153 500 µ$
    message(
        "msg_sonnet_long",
        "claude-sonnet-4-5-20250929",
        input_tokens=50000,
        cache_creation_input_tokens=100000,
        cache_read_input_tokens=60000,
        output_tokens=3000,
        ts=TS,
    ),
    # Sonnet 4.5, prompt exactly 200 000: not above, base 3 / 3.75 / 0.30 / 15:
    # 300 + 750 + 59 910 + 150 = 61 110 µ$
    message(
        "msg_sonnet_edge",
        "claude-sonnet-4-5",
        input_tokens=100,
        cache_creation_input_tokens=200,
        cache_read_input_tokens=199700,
        output_tokens=10,
        ts=TS,
    ),
    # Haiku 4.5: 333×1 + 1005×0.10 + 77×5 = 818.5 → 819 µ$ (half up, once per record)
    message(
        "msg_haiku",
        "claude-haiku-4-5-20251001",
        input_tokens=333,
        cache_read_input_tokens=1005,
        output_tokens=77,
        ts=TS,
    ),
    # GPT-5.1-codex: 10 000×1.25 + 50 000×0.125 + 4 000×10 = 58 750 µ$; reasoning (inside
    # output) is not billed again.
    message(
        "msg_gpt",
        "gpt-5.1-codex",
        input_tokens=10000,
        cache_read_input_tokens=50000,
        output_tokens=4000,
        reasoning_tokens=1500,
        ts=TS,
    ),
    # No price: family unknown, cost 0.
    message("msg_unknown", "llama-3-70b", input_tokens=1000, ts=TS),
]
KNOWN_COSTS = {
    "msg_opus": 93_750,
    "msg_sonnet_long": 1_153_500,
    "msg_sonnet_edge": 61_110,
    "msg_haiku": 819,
    "msg_gpt": 58_750,
    "msg_unknown": 0,
}
# round(input + 1.25·cacheCreation + 0.1·cacheRead + 5·output)
KNOWN_WEIGHTED = {
    "msg_opus": 18_000,
    "msg_sonnet_long": 196_000,
    "msg_sonnet_edge": 20_370,
    "msg_haiku": 819,  # 333 + 100.5 + 385 = 818.5, half up
    "msg_gpt": 35_000,
    "msg_unknown": 1_000,
}


def test_it_stores_a_known_batch_with_exact_totals_and_cost(ingest, frozen_now, api_client):
    response = ingest(KNOWN_BATCH)

    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "received": 6,
        "applied": 6,
        "duplicates": 0,
        "rejected": [],
    }
    stored = {row.message_id: row for row in UsageRecord.objects.all()}
    assert {key: row.cost_micros for key, row in stored.items()} == KNOWN_COSTS
    assert {key: row.tokens_weighted for key, row in stored.items()} == KNOWN_WEIGHTED
    assert {key: row.model_family for key, row in stored.items()} == {
        "msg_opus": "opus",
        "msg_sonnet_long": "sonnet",
        "msg_sonnet_edge": "sonnet",
        "msg_haiku": "haiku",
        "msg_gpt": "gpt-5",
        "msg_unknown": "unknown",
    }
    assert stored["msg_opus"].user == "alice" and stored["msg_opus"].machine == "alice-mbp"
    assert stored["msg_opus"].cache_creation_1h == 1000
    assert stored["msg_gpt"].reasoning == 1500

    totals = api_client.get("/api/usage/totals").json()
    assert totals["totals"] == {
        "input": 62_433,
        "cacheCreation": 104_200,
        "cacheRead": 330_705,
        "output": 9_087,
        "sum": 506_425,
        "messages": 6,
        "costUsd": 1.367929,
    }
    assert totals["timestamp"] == int(NOW.timestamp())


def test_it_changes_nothing_when_the_same_batch_is_replayed(ingest, frozen_now, api_client):
    ingest(KNOWN_BATCH)
    before = api_client.get("/api/usage/totals").json()
    rollups_before = list(UsageTotal.objects.order_by("id").values())

    again = ingest(KNOWN_BATCH)

    assert again.status_code == 200
    assert again.json() == {
        "ok": True,
        "received": 6,
        "applied": 0,
        "duplicates": 6,
        "rejected": [],
    }
    assert api_client.get("/api/usage/totals").json() == before
    assert list(UsageTotal.objects.order_by("id").values()) == rollups_before
    assert UsageRecord.objects.count() == 6


def test_it_counts_a_message_id_sent_from_two_machines_once(ingest, frozen_now, api_client):
    first = ingest([message("msg_shared", input_tokens=100)], machine="alice-mbp")
    second = ingest([message("msg_shared", input_tokens=999)], machine="alice-desktop")

    assert first.json()["applied"] == 1
    assert second.json()["applied"] == 0 and second.json()["duplicates"] == 1
    row = UsageRecord.objects.get(message_id="msg_shared")
    assert (row.machine, row.input) == ("alice-mbp", 100)  # first writer wins
    assert api_client.get("/api/usage/totals").json()["totals"]["messages"] == 1
    assert list(UsageTotal.objects.values_list("machine", "messages")) == [("alice-mbp", 1)]


def test_it_counts_a_repeated_message_id_inside_one_batch_once(ingest, frozen_now):
    response = ingest([message("msg_a", input_tokens=1), message("msg_a", input_tokens=2)])

    assert response.json()["applied"] == 1 and response.json()["duplicates"] == 1
    assert UsageRecord.objects.get().input == 1


def test_it_accepts_ts_in_seconds_milliseconds_and_iso(ingest, frozen_now):
    seconds = int(NOW.timestamp()) - 60
    response = ingest(
        [
            message("msg_s", ts=seconds),
            message("msg_ms", ts=seconds * 1000 + 250),
            message("msg_iso", ts="2026-11-21T11:59:00.125Z"),
            message("msg_iso_offset", ts="2026-11-21T13:59:00+02:00"),
        ]
    )

    assert response.json()["applied"] == 4
    stamps = {row.message_id: row.ts.isoformat() for row in UsageRecord.objects.all()}
    assert stamps == {
        "msg_s": "2026-11-21T11:59:00+00:00",
        "msg_ms": "2026-11-21T11:59:00.250000+00:00",
        "msg_iso": "2026-11-21T11:59:00.125000+00:00",
        "msg_iso_offset": "2026-11-21T11:59:00+00:00",
    }


def test_it_reads_ts_by_the_same_rule_as_the_query_strings(ingest, frozen_now):
    seconds = int(NOW.timestamp()) - 60
    response = ingest(
        [
            message("msg_text_seconds", ts=str(seconds)),
            message("msg_space_offset", ts="2026-11-21T12:59:00 01:00"),
        ]
    )

    assert response.json()["applied"] == 2
    stamps = {row.message_id: row.ts.isoformat() for row in UsageRecord.objects.all()}
    assert stamps == {
        "msg_text_seconds": "2026-11-21T11:59:00+00:00",
        "msg_space_offset": "2026-11-21T11:59:00+00:00",
    }


BAD_MESSAGES: list[tuple[Any, str]] = [
    ({"model": "claude-sonnet-4-6", "ts": 1795300000}, "message_id is required."),
    ("not an object", "Message must be a JSON object."),
    (message("msg_neg", input_tokens=-1), "input_tokens must be a non-negative integer."),
    (message("msg_float", output_tokens=1.5), "output_tokens must be a non-negative integer."),
    (
        message("msg_float_whole", cache_read_input_tokens=10.0),
        "cache_read_input_tokens must be a non-negative integer.",
    ),
    (message("msg_str", input_tokens="12"), "input_tokens must be a non-negative integer."),
    (message("msg_bool", output_tokens=True), "output_tokens must be a non-negative integer."),
    (message("msg_huge", input_tokens=10**9 + 1), "input_tokens is over 1000000000."),
    (message("msg_bad_ts", ts="yesterday"), "ts is not epoch seconds, milliseconds or ISO 8601."),
    (message("msg_old_ts", ts=946684800), "ts is not a plausible time."),
    (message("msg_future_ts", ts=int(NOW.timestamp()) + 3 * 86400), "ts is not a plausible time."),
    (message("msg_bool_ts", ts=True), "ts must be epoch seconds, milliseconds or ISO 8601."),
    (message("msg_empty_model", model=""), "model must be a non-empty string or null."),
    ({**message("msg_number_model"), "model": 4}, "model must be a non-empty string or null."),
    (
        message("msg_1h", cache_creation_input_tokens=10, cache_creation_1h_input_tokens=11),
        "cache_creation_1h_input_tokens is larger than cache_creation_input_tokens.",
    ),
    (message("x" * 256), "message_id is longer than 255 characters."),
]


def test_it_rejects_each_bad_message_alone_and_stores_the_rest(ingest, frozen_now):
    batch = [message("msg_good_1", input_tokens=5)]
    batch += [bad for bad, _error in BAD_MESSAGES]
    batch.append(message("msg_good_2", input_tokens=7, input_tokens_extra="ignored"))

    response = ingest(batch)

    assert response.status_code == 200
    body = response.json()
    assert body["received"] == len(batch)
    assert body["applied"] == 2 and body["duplicates"] == 0
    assert body["rejected"] == [
        {"index": index + 1, "error": error} for index, (_bad, error) in enumerate(BAD_MESSAGES)
    ]
    assert set(UsageRecord.objects.values_list("message_id", flat=True)) == {
        "msg_good_1",
        "msg_good_2",
    }


def test_it_accepts_the_largest_count(ingest, frozen_now):
    response = ingest([message("msg_max", input_tokens=10**9)])

    assert response.json()["applied"] == 1


def test_it_refuses_malformed_json_with_400(client_for, alice_ingest_token, frozen_now):
    response = client_for(alice_ingest_token).post(
        "/api/ingest/messages",
        data='{"machine": "m", "messages": [',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Malformed JSON body."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "machine"),
        ({"machine": "", "messages": []}, "machine"),
        ({"machine": "bad machine!", "messages": []}, "machine"),
        ({"machine": "m" * 101, "messages": []}, "machine"),
        ({"machine": 42, "messages": []}, "machine"),
        ({"machine": "alice-mbp"}, "messages"),
        ({"machine": "alice-mbp", "messages": {"message_id": "x"}}, "messages"),
    ],
)
def test_it_refuses_a_batch_without_a_valid_machine_or_message_array(
    client_for, alice_ingest_token, frozen_now, body, field
):
    response = client_for(alice_ingest_token).post("/api/ingest/messages", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request."
    assert field in response.json()["fields"]
    assert UsageRecord.objects.count() == 0


def test_it_refuses_a_body_that_is_not_an_object(client_for, alice_ingest_token):
    response = client_for(alice_ingest_token).post(
        "/api/ingest/messages", data=json.dumps([1, 2]), content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Request body must be a JSON object."}


def test_it_refuses_more_than_the_batch_limit_with_413(ingest, frozen_now):
    batch = [message(f"msg_{index}", input_tokens=1) for index in range(1001)]

    response = ingest(batch)

    assert response.status_code == 413
    assert "1000" in response.json()["error"]
    assert UsageRecord.objects.count() == 0
    assert ingest(batch[:1000]).json()["applied"] == 1000


def test_it_needs_an_ingest_credential(client_for, read_token, api_client, frozen_now):
    body = {"machine": "m", "messages": [message("msg_x")]}

    anonymous = api_client.post("/api/ingest/messages", body, format="json")
    reader = client_for(read_token).post("/api/ingest/messages", body, format="json")

    assert anonymous.status_code == 401
    assert reader.status_code == 403
    assert UsageRecord.objects.count() == 0


def test_it_attributes_rows_to_the_token_user_and_accepts_admin(ingest, admin_token, frozen_now):
    ingest([message("msg_admin", user="mallory")], machine="ci-runner", token=admin_token)

    row = UsageRecord.objects.get()
    assert (row.user, row.machine, row.source) == ("root", "ci-runner", "claude")


def test_it_records_one_audit_event_per_batch_without_payload(ingest, frozen_now):
    ingest([message("msg_1", input_tokens=3), message("msg_2", input_tokens=-3)])

    batch = AuditEvent.objects.get(action="ingest.batch")
    assert batch.meta == {
        "machine": "alice-mbp",
        "received": 2,
        "applied": 1,
        "duplicates": 0,
        "rejected": 1,
    }
    assert batch.actor.endswith(":alice")
    rejected = AuditEvent.objects.get(action="ingest.rejected")
    assert rejected.meta["first"] == [
        {"index": 1, "error": "input_tokens must be a non-negative integer."}
    ]
    assert "msg_1" not in json.dumps(batch.meta) + json.dumps(rejected.meta)


def test_it_announces_inserted_rows_after_commit(
    ingest, frozen_now, django_capture_on_commit_callbacks
):
    received: list[int] = []

    def listener(sender, count, **kwargs):
        received.append(count)

    usage_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ingest([message("msg_1"), message("msg_2")])
        with django_capture_on_commit_callbacks(execute=True):
            ingest([message("msg_1")])  # a pure replay announces nothing
    finally:
        usage_changed.disconnect(listener)

    assert received == [2]


def test_it_takes_an_optional_source_and_refuses_an_unknown_one(ingest, frozen_now):
    response = ingest(
        [
            message("m-default"),
            message("m-codex", model="gpt-5.1-codex", source="codex"),
            message("m-bad", source="gemini"),
        ]
    )

    assert response.status_code == 200
    body = response.json()
    assert body["applied"] == 2
    assert body["rejected"] == [{"index": 2, "error": "source must be one of: claude, codex."}]
    sources = dict(UsageRecord.objects.values_list("message_id", "source"))
    assert sources == {"m-default": "claude", "m-codex": "codex"}
