"""Issue 9 findings on the usage dialect: each test failed (500, HTML or a lost batch) before."""

from __future__ import annotations

import json

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import FleetSetting
from tests.usage.conftest import message
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

USAGE_READS = [
    "/api/usage/totals",
    "/api/usage/timeseries",
    "/api/usage/leaderboard",
    "/api/usage/recent",
    "/api/usage/breakdown",
    "/api/usage/breakdown.csv",
    "/api/usage/users/alice",
]


@pytest.mark.parametrize("path", USAGE_READS)
@pytest.mark.parametrize("param", ["user", "machine", "model_family", "tz", "by", "x"])
def test_it_answers_400_naming_the_parameter_for_a_nul_in_a_filter(api_client, path, param):
    response = api_client.get(f"{path}?{param}=a%00b")

    assert response.status_code == 400
    assert response.json()["fields"] == {param: "Must not contain NUL characters."}


def test_it_answers_400_for_a_nul_in_the_path(api_client):
    response = api_client.get("/api/usage/users/al%00ice")

    assert response.status_code == 400
    assert "path" in response.json()["fields"]


@pytest.mark.parametrize("path", USAGE_READS)
@pytest.mark.parametrize(
    "query",
    [
        "from=-99999999999",
        "to=9999-12-31T23:59:59Z",
        "from=0001-01-01T00:00:00%2B01:00",
        "to=1e300",
        "from=1999-12-31T23:59:59Z",
        "to=2100-01-01T00:00:00Z",
    ],
)
def test_it_refuses_dates_outside_2000_to_2100(api_client, path, query):
    response = api_client.get(f"{path}?{query}")

    assert response.status_code == 400
    name = query.split("=", 1)[0]
    assert name in response.json()["fields"]


def test_it_refuses_out_of_range_audit_since(client_for, admin_token):
    client = client_for(admin_token)
    for since in ("-99999999999", "9999-12-31T23:59:59Z", "99999999999999999999"):
        response = client.get("/api/admin/audit", {"since": since})
        assert response.status_code == 400, since
        assert "since" in response.json()["fields"]


@pytest.mark.parametrize("path", ["/api/admin/tokens/", "/api/admin/embed-origins/"])
def test_it_answers_404_for_ids_no_column_can_hold(client_for, admin_token, path):
    response = client_for(admin_token).delete(path + "99999999999999999999")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [33, 1_000, 100_000])
def test_it_refuses_json_nested_too_deeply(client_for, alice_ingest_token, levels):
    response = client_for(alice_ingest_token).post(
        "/api/ingest/messages",
        data=f'{{"machine":"m","messages":{deep(levels)}}}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "body" in response.json()["fields"]


def test_it_stores_every_good_message_of_a_batch_with_a_nul_and_a_surrogate(
    client_for, alice_ingest_token, frozen_now
):
    good = [message(f"msg_{index}") for index in range(998)]
    batch = [*good[:400], message("msg_nul\u0000"), *good[400:], message("msg_x", model="\ud800")]
    # Serialised by hand: a lone surrogate survives only as a JSON escape.
    body = json.dumps({"machine": "alice-mbp", "messages": batch})

    for _attempt in range(2):  # a client retries; the good ones are stored once
        response = client_for(alice_ingest_token).post(
            "/api/ingest/messages", data=body, content_type="application/json"
        )
        assert response.status_code == 200
        data = response.json()
        assert [item["index"] for item in data["rejected"]] == [400, 999]
        assert "message_id" in data["rejected"][0]["error"]
        assert "model" in data["rejected"][1]["error"]

    assert UsageRecord.objects.count() == 998
    assert response.json()["duplicates"] == 998


def test_it_keeps_codex_ids_for_the_host_that_sent_them(
    client_for, alice_ingest_token, host, host_client, frozen_now
):
    forged = message(f"codex:{host.pk}:run-1")
    response = client_for(alice_ingest_token).post(
        "/api/ingest/messages", {"machine": "m", "messages": [forged]}, format="json"
    )
    assert response.json()["rejected"][0]["index"] == 0

    sent = host_client.post("/usage", {"usages": [{"id": "run-1", "input": 5}]}, format="json")

    assert sent.json()["data"]["recorded"] == 1
    row = UsageRecord.objects.get(message_id=f"codex:{host.pk}:run-1")
    assert row.host_id == host.pk and row.input == 5


def test_it_stops_host_keys_on_ingest_with_the_kill_switch(host, host_key, frozen_now):
    FleetSetting.objects.create(key="api_disabled", value=True)
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    client.credentials(HTTP_X_API_KEY=host_key)

    response = client.post(
        "/api/ingest/messages", {"machine": "x", "messages": [message("m1")]}, format="json"
    )

    assert response.status_code == 503
    assert response.json() == {"error": "API disabled by administrator"}
    assert not UsageRecord.objects.exists()


def test_it_answers_413_for_a_body_over_the_limit_before_parsing(
    client_for, alice_ingest_token, settings
):
    settings.MAX_REQUEST_BODY_BYTES = 1024 * 1024
    padding = "x" * (3 * 1024 * 1024)  # over Django's 2.5 MiB too, which used to answer 400
    response = client_for(alice_ingest_token).post(
        "/api/ingest/messages",
        data=json.dumps({"machine": "m", "messages": [], "pad": padding}),
        content_type="application/json",
    )

    assert response.status_code == 413
    assert "at most 1048576 bytes" in response.json()["error"]


@pytest.mark.parametrize(
    "path,dialect",
    [
        ("/install", "fleet"),
        ("/install/", "fleet"),
        ("/admin", "fleet"),
        ("/admin/", "fleet"),
        ("/auth/", "fleet"),
        ("/usage/", "fleet"),
        ("/wrapper/", "fleet"),
        ("/versions/", "fleet"),
        ("/slash-commands/", "fleet"),
        ("/api", "usage"),
        ("/api/", "usage"),
        ("/api/usage/totals/", "usage"),
        ("/embed", "usage"),
        ("/embed/", "usage"),
        ("/metrics/", "usage"),
        ("/health/", "usage"),
    ],
)
def test_it_answers_a_json_404_on_every_api_prefix(api_client, path, dialect):
    response = api_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert ("status" in body) if dialect == "fleet" else ("error" in body)


def test_it_answers_503_with_retry_after_while_the_database_is_unreachable(api_client, monkeypatch):
    def unreachable(*_args, **_kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    monkeypatch.setattr("usage.selectors.totals", unreachable)

    response = api_client.get("/api/usage/totals")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "Database unavailable; retry shortly."


def test_it_limits_anonymous_reads_per_client_ip(settings):
    settings.ANON_RATE_LIMIT_PER_MINUTE = 5
    first, second = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")

    answers = [first.get("/api/usage/totals").status_code for _ in range(6)]

    assert answers == [200] * 5 + [429]
    assert first.get("/api/usage/totals")["Retry-After"]
    assert second.get("/api/usage/totals").status_code == 200  # another client is not affected
    assert AuditEvent.objects.filter(action="rate.limited").count() == 1


def test_it_keeps_installer_links_out_of_audit_meta(settings):
    settings.AUTH_FAIL_LIMIT = 1
    client = APIClient(REMOTE_ADDR="10.0.0.9")
    secret = "Zx9" * 15

    for _ in range(3):
        client.get(f"/install/{secret}")

    rows = list(AuditEvent.objects.values_list("action", "meta"))
    assert {action for action, _meta in rows} >= {"auth.failed", "rate.limited"}
    assert secret not in json.dumps([meta for _action, meta in rows])
