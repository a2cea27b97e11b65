"""GET /metrics: usage counters from the rollups, django-prometheus request metrics."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from usage.records import NewRecord
from usage.services.ingest import records_insert

pytestmark = pytest.mark.django_db

ODD_USER = 'o"hara\\admin\nsecond line'


def _record(message_id: str, user: str, machine: str, model: str, **counts) -> NewRecord:
    return NewRecord(
        message_id=message_id,
        source="claude",
        user=user,
        machine=machine,
        model=model,
        ts=datetime(2026, 11, 1, 12, tzinfo=UTC),
        **counts,
    )


@pytest.fixture
def usage_rows():
    records_insert(
        records=[
            _record(
                "a1",
                "alice",
                "mbp",
                "claude-opus-4-1",
                input=100,
                cache_creation=10,
                cache_read=1000,
                output=50,
            ),
            _record(
                "a2",
                "alice",
                "mbp",
                "claude-opus-4-1",
                input=200,
                cache_creation=0,
                cache_read=2000,
                output=70,
            ),
            _record("a3", "alice", "mbp", "claude-sonnet-4-5", input=7, output=3),
            _record("b1", "bob", "build-01", "gpt-5", input=1000, cache_read=500, output=300),
            _record("o1", ODD_USER, "odd", "no-such-model", input=1, output=1),
        ]
    )


def _scrape(client=None, **headers) -> tuple[str, str]:
    response = (client or APIClient()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return response.content.decode(), response["Content-Type"]


def _samples(text: str, name: str) -> list:
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_it_exposes_usage_that_equals_the_json_totals(usage_rows):
    text, content_type = _scrape()
    assert content_type.startswith("text/plain")
    totals = APIClient().get("/api/usage/totals").json()["totals"]

    tokens = _samples(text, "wigtn_tokens_total")
    by_kind: dict[str, float] = {}
    for sample in tokens:
        by_kind[sample.labels["kind"]] = by_kind.get(sample.labels["kind"], 0) + sample.value
    assert by_kind == {
        "input": totals["input"],
        "cache_creation": totals["cacheCreation"],
        "cache_read": totals["cacheRead"],
        "output": totals["output"],
    }
    assert sum(s.value for s in _samples(text, "wigtn_messages_total")) == totals["messages"]
    cost = sum(s.value for s in _samples(text, "wigtn_cost_usd_total"))
    assert cost == pytest.approx(totals["costUsd"], abs=1e-6)
    assert cost > 0


def test_it_labels_by_user_machine_and_model_family(usage_rows):
    text, _ = _scrape()
    messages = {
        (s.labels["user"], s.labels["machine"], s.labels["model_family"]): s.value
        for s in _samples(text, "wigtn_messages_total")
    }
    assert messages[("alice", "mbp", "opus")] == 2
    assert messages[("alice", "mbp", "sonnet")] == 1
    assert messages[("bob", "build-01", "gpt-5")] == 1
    alice_opus_input = [
        s.value
        for s in _samples(text, "wigtn_tokens_total")
        if s.labels == {"user": "alice", "machine": "mbp", "model_family": "opus", "kind": "input"}
    ]
    assert alice_opus_input == [300]
    assert set(_samples(text, "wigtn_tokens_total")[0].labels) == {
        "user",
        "machine",
        "model_family",
        "kind",
    }


def test_it_escapes_label_values(usage_rows):
    text, _ = _scrape()
    assert 'user="o\\"hara\\\\admin\\nsecond line"' in text
    users = {s.labels["user"] for s in _samples(text, "wigtn_messages_total")}
    assert ODD_USER in users  # the parser reads back exactly what was stored


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (.ci/run installs Debian's prometheus package)",
)
def test_it_passes_promtool(usage_rows):
    promtool = shutil.which("promtool")
    assert promtool is not None  # the module is skipped without it
    text, _ = _scrape()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_speaks_openmetrics_when_asked(usage_rows):
    text, content_type = _scrape(HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    families = {family.name: family for family in openmetrics_families(text)}
    assert families["wigtn_tokens"].type == "counter"
    assert any(
        s.name == "wigtn_cost_usd_total" and s.labels["user"] == "bob"
        for s in families["wigtn_cost_usd"].samples
    )


def test_it_includes_django_prometheus_request_metrics(usage_rows):
    APIClient().get("/api/usage/totals")
    text, _ = _scrape()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "django_http_requests_total_by_method" in names
    assert "django_http_responses_total_by_status_view_method" in names


def test_it_answers_an_empty_database_with_the_families_and_no_samples():
    text, _ = _scrape()
    assert "# TYPE wigtn_tokens_total counter" in text
    assert _samples(text, "wigtn_tokens_total") == []


def test_it_follows_usage_api_public(settings, read_token, client_for, usage_rows):
    settings.USAGE_API_PUBLIC = False
    assert APIClient().get("/metrics").status_code == 401
    text, _ = _scrape(client_for(read_token))
    assert _samples(text, "wigtn_messages_total")
