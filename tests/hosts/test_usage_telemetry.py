"""POST /usage: Codex token telemetry from cdx, stored as UsageRecord rows of source codex."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from core.hashing import sha256_hex
from hosts.models import FleetSetting, Host
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

EXAMPLE = "Token usage: total=1,234 input=1,000 (+ 5,000 cached) output=234 (reasoning 120)"


def _post(client, body):
    return client.post("/usage", body, format="json")


def test_it_stores_a_parsed_line_as_a_codex_record(host_client, host):
    response = _post(
        host_client, {"line": "\x1b[1m" + EXAMPLE + "\x1b[0m", "model": "gpt-5.1-codex"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    data = body["data"]
    assert data["host_id"] == host.pk and data["recorded"] == 1
    [entry] = data["usages"]
    assert entry["recorded"] is True
    assert (
        entry["total"],
        entry["input"],
        entry["cached"],
        entry["output"],
        entry["reasoning"],
    ) == (
        1234,
        1000,
        5000,
        234,
        120,
    )
    row = UsageRecord.objects.get(message_id=entry["message_id"])
    assert row.source == "codex"
    assert (row.user, row.machine, row.host_id) == ("alice", "build-01", host.pk)
    # input is the non-cached input, cached goes to cache_read, output keeps the reasoning.
    assert (row.input, row.cache_read, row.output, row.reasoning) == (1000, 5000, 234, 120)
    assert row.cache_creation == 0
    assert row.line == EXAMPLE
    assert row.model == "gpt-5.1-codex" and row.model_family == "gpt-5"
    # 1,000 × 1.25 + 5,000 × 0.125 + 234 × 10 (reasoning inside output, billed once) per 10^6.
    assert row.cost_micros == 1250 + 625 + 2340


def test_it_accepts_numbers_and_a_batch(host_client):
    response = _post(
        host_client,
        {
            "usages": [
                {"total": 300, "input": 100, "output": 200, "cached": 50, "reasoning": 20},
                {"input": 10},
                {"line": "Token usage: total=9 input=4 output=5", "output": 6},
            ]
        },
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["recorded"] == 3
    got = [(u["input"], u["cached"], u["output"], u["reasoning"]) for u in data["usages"]]
    # The last entry: an explicit number wins over the line's.
    assert got == [(100, 50, 200, 20), (10, 0, 0, 0), (4, 0, 6, 0)]
    assert UsageRecord.objects.filter(source="codex").count() == 3
    assert len({u["message_id"] for u in data["usages"]}) == 3


def test_it_derives_missing_parts_from_total(host_client):
    data = _post(host_client, {"usages": [{"total": 900, "output": 300}, {"total": 50}]}).json()[
        "data"
    ]
    assert [(u["input"], u["output"]) for u in data["usages"]] == [(600, 300), (50, 0)]
    data = _post(host_client, {"total": 90, "input": 60}).json()["data"]
    assert (data["usages"][0]["input"], data["usages"][0]["output"]) == (60, 30)


def test_it_defaults_the_model_and_prices_it_unknown(host_client):
    data = _post(host_client, {"line": EXAMPLE}).json()["data"]
    row = UsageRecord.objects.get(message_id=data["usages"][0]["message_id"])
    assert row.model == "codex-unspecified" == data["usages"][0]["model"]
    assert row.model_family == "unknown" and row.cost_micros == 0


def test_it_makes_an_entry_with_an_id_idempotent(host_client, host):
    first = _post(host_client, {"id": "run-42", "line": EXAMPLE}).json()["data"]
    again = _post(host_client, {"usages": [{"id": "run-42", "line": EXAMPLE}]}).json()["data"]
    assert first["recorded"] == 1 and again["recorded"] == 0
    assert again["usages"][0]["recorded"] is False
    assert first["usages"][0]["message_id"] == again["usages"][0]["message_id"]
    assert UsageRecord.objects.count() == 1
    # The same id within one request counts once, too.
    both = _post(host_client, {"usages": [{"id": 7, "input": 1}, {"id": "7", "input": 1}]})
    assert [u["recorded"] for u in both.json()["data"]["usages"]] == [True, False]
    # Without an id every entry is new, even with identical numbers.
    for _ in range(2):
        assert _post(host_client, {"line": EXAMPLE}).json()["data"]["recorded"] == 1
    assert UsageRecord.objects.count() == 4


def test_it_scopes_client_ids_to_the_host(host_client, host):
    _post(host_client, {"id": "run-1", "input": 5})
    other_key = "hk_" + "OtherHostKey" * 3 + "abcd"
    Host.objects.create(fqdn="build-02", owner="bob", api_key_hash=sha256_hex(other_key))
    other = APIClient()
    other.credentials(HTTP_X_API_KEY=other_key)
    data = _post(other, {"id": "run-1", "input": 5}).json()["data"]
    assert data["recorded"] == 1
    assert sorted(UsageRecord.objects.values_list("user", flat=True)) == ["alice", "bob"]


def test_it_attributes_to_the_fqdn_when_the_host_has_no_owner(host_client, host):
    Host.objects.filter(pk=host.pk).update(owner="")
    data = _post(host_client, {"input": 3, "output": 4}).json()["data"]
    row = UsageRecord.objects.get(message_id=data["usages"][0]["message_id"])
    assert (row.user, row.machine) == ("build-01", "build-01")


def test_it_audits_each_entry_with_numbers_and_no_secrets(host_client, host_key):
    _post(host_client, {"usages": [{"id": "a", "line": EXAMPLE}, {"input": 1}]})
    events = list(AuditEvent.objects.filter(action="token.usage").order_by("id"))
    assert len(events) == 2
    assert events[0].meta["input"] == 1000 and events[0].meta["reasoning"] == 120
    assert events[0].meta["client_id"] == "a" and events[0].actor == "host:build-01"
    assert all(host_key not in str(event.meta) for event in events)


@pytest.mark.parametrize(
    "entry, field",
    [
        ({}, "non_field_errors"),
        ({"model": "gpt-5"}, "non_field_errors"),
        ({"line": "no numbers here"}, "line"),
        ({"input": -1}, "input"),
        ({"output": 1.5}, "output"),
        ({"total": "1,234"}, "total"),
        ({"cached": True}, "cached"),
        ({"input": 10**10}, "input"),
        ({"line": 42}, "line"),
        ({"input": 1, "id": ""}, "id"),
        ({"input": 1, "id": {"x": 1}}, "id"),
        ({"output": 10, "reasoning": 11}, "reasoning"),
    ],
)
def test_it_refuses_a_bad_single_entry(host_client, entry, field):
    response = _post(host_client, entry)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error" and field in body["errors"]
    assert not UsageRecord.objects.exists()


def test_it_refuses_a_bad_entry_of_a_batch_alone_and_names_it(host_client):
    response = _post(host_client, {"usages": [{"input": 1}, {}, {"output": -3}]})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["recorded"] == 1 and len(data["usages"]) == 1
    assert [item["index"] for item in data["rejected"]] == [1, 2]
    assert set(data["rejected"][0]["errors"]) == {"usages.1"}
    assert set(data["rejected"][1]["errors"]) == {"usages.2.output"}
    assert UsageRecord.objects.count() == 1
    assert _post(host_client, {"usages": "nope"}).status_code == 422
    assert _post(host_client, [{"input": 1}]).status_code == 422


def test_it_refuses_oversized_batches(host_client, settings):
    settings.INGEST_MAX_BATCH = 2
    response = _post(host_client, {"usages": [{"input": 1}] * 3})
    assert response.status_code == 413
    assert response.json()["status"] == "error"


def test_it_accepts_an_empty_batch(host_client, host):
    data = _post(host_client, {"usages": []}).json()["data"]
    assert data == {"host_id": host.pk, "recorded": 0, "usages": [], "rejected": []}


def test_it_needs_a_host_key_and_an_enabled_api(host_client, alice_ingest_token, client_for):
    missing = _post(APIClient(), {"input": 1})
    assert missing.status_code == 401
    assert missing.json() == {"status": "error", "message": "API key missing"}
    # An ingest token is not a host: /usage belongs to hosts.
    assert _post(client_for(alice_ingest_token), {"input": 1}).status_code == 401
    FleetSetting.objects.create(key="api_disabled", value=True)
    disabled = _post(host_client, {"input": 1})
    assert disabled.status_code == 503
    assert disabled.json()["message"] == "API disabled by administrator"
    assert not UsageRecord.objects.exists()
