"""How many queries the hot usage routes make, pinned: a change that adds one per message, per
group or per bucket fails here before it shows in bench/. Counts include the savepoints of the
test's own transaction, so they are the same on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.db import connection

from usage.models import UsageRecord
from usage.rollups import LEVELS
from usage.services.ingest import RECORD_COLUMNS

from .conftest import NOW, message, record, seed

pytestmark = pytest.mark.django_db

INGEST_BATCH = 1000
# Through the ORM: the token, the savepoint, the price book (one SELECT for the whole batch), the
# batch's audit row, the release.
INGEST_ORM_QUERIES = 5


def read_queries() -> int:
    """One read, whatever the range: the whole-table totals read the all-time rollup, a bounded
    and filtered range its days, hours and raw edges in one UNION ALL. On PostgreSQL too: the
    connection itself keeps the planner from starting parallel workers (config/settings.py), so
    no transaction and SET LOCAL around the read (usage.aggregation.fetch)."""
    return 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner setting")
def test_it_reads_without_parallel_workers_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] == "0"


def bulk_statements(rows: int) -> int:
    """Statements usage.bulk sends that Django's query capture sees: on SQLite the records'
    INSERTs (VALUES lists sized to the parameter limit) and one upsert per rollup level. On
    PostgreSQL they go through a raw psycopg cursor (one `unnest` INSERT each), unseen here."""
    if connection.vendor == "postgresql":
        return 0
    per_statement = (connection.features.max_query_params or 999) // len(RECORD_COLUMNS)
    return math.ceil(rows / per_statement) + len(LEVELS)


def test_it_ingests_a_batch_of_1000_in_a_fixed_number_of_queries(
    ingest, frozen_now, django_assert_num_queries, settings
):
    settings.INGEST_MAX_BATCH = INGEST_BATCH
    models = ("claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5")
    batch = [
        message(
            f"msg_{number:04d}",
            models[number % len(models)],
            input_tokens=number,
            output_tokens=7,
            ts=int((NOW - timedelta(minutes=number)).timestamp()),
        )
        for number in range(INGEST_BATCH)
    ]
    ingest([message("msg_warm")])  # the token's last_used_at is written once a minute

    with django_assert_num_queries(INGEST_ORM_QUERIES + bulk_statements(INGEST_BATCH)):
        response = ingest(batch)

    assert response.json()["applied"] == INGEST_BATCH
    assert UsageRecord.objects.count() == INGEST_BATCH + 1


@pytest.fixture
def spread(frozen_now):
    seed(
        *(
            record(
                f"msg_{number:03d}",
                NOW - timedelta(hours=number, minutes=7),
                user=("alice", "bob", "carol")[number % 3],
                machine=("mbp", "ci-1")[number % 2],
                output=number + 1,
            )
            for number in range(200)
        )
    )


def test_it_reads_totals_in_a_fixed_number_of_queries(
    spread, api_client, django_assert_num_queries
):
    with django_assert_num_queries(read_queries()):
        everything = api_client.get("/api/usage/totals")
    start, end = NOW - timedelta(days=5, minutes=13), NOW - timedelta(hours=2, minutes=41)
    params = {"from": start.isoformat(), "to": end.isoformat(), "user": "bob"}
    with django_assert_num_queries(read_queries()):
        ranged = api_client.get("/api/usage/totals", params)

    assert everything.json()["totals"]["messages"] == 200
    assert 0 < ranged.json()["totals"]["messages"] < 200
