"""usage.host_month: a host's Codex usage this month, cached per host, dropped by ingest."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hosts.fleetauth.selectors import month_start
from usage import host_month
from usage.records import NewRecord
from usage.services.ingest import records_insert

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch):
    """The caching applies only with a shared cache (Redis); the test cache stands in for it."""
    monkeypatch.setattr(host_month, "cache_shared", lambda: True)


@pytest.fixture
def host(db):
    from hosts.models import Host

    return Host.objects.create(fqdn="build-07", owner="alice", api_key_hash="h" * 64)


def codex(host, message_id: str, *, ts: datetime = NOW, **tokens) -> NewRecord:
    return NewRecord(
        message_id=message_id,
        source="codex",
        user="alice",
        machine=host.fqdn,
        model="gpt-5",
        input=tokens.get("input", 100),
        cache_creation=0,
        cache_creation_1h=0,
        cache_read=tokens.get("cache_read", 0),
        output=tokens.get("output", 10),
        reasoning=0,
        ts=ts,
        host_id=host.pk,
    )


def sums(host):
    return host_month.host_month_sums(host_id=host.pk, since=month_start(NOW))


def test_it_reads_the_sums_once(host, django_assert_num_queries):
    records_insert(records=[codex(host, "m-1")])
    assert sums(host)["input"] == 100

    with django_assert_num_queries(0):
        cached = sums(host)
    assert cached == {"input": 100, "cache_read": 0, "output": 10, "reasoning": 0, "events": 1}


def test_it_counts_what_ingest_adds_at_once(host):
    records_insert(records=[codex(host, "m-1")])
    assert sums(host)["events"] == 1

    records_insert(records=[codex(host, "m-2", input=5)])

    assert sums(host)["input"] == 105
    assert sums(host)["events"] == 2


def test_it_starts_again_with_a_new_month(host):
    records_insert(records=[codex(host, "m-1")])
    assert sums(host)["events"] == 1

    december = month_start(datetime(2026, 12, 2, tzinfo=UTC))
    assert host_month.host_month_sums(host_id=host.pk, since=december)["events"] == 0
