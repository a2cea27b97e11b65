from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from accounts.models import AuditEvent
from usage.models import UsageRecord
from usage.services.ingest import messages_ingest

from .conftest import NOW, message, rollups_from_records, rollups_stored

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
BATCH = 300
STRIDE = 100  # consecutive threads share 200 of their 300 message ids


def _batch(thread: int) -> list[dict]:
    """Overlapping, shuffled-looking batches over a few users' hours and several models."""
    models = ["claude-opus-4-6", "claude-sonnet-4-6", "gpt-5.1-codex", "claude-haiku-4-5"]
    ids = range(thread * STRIDE, thread * STRIDE + BATCH)
    order = sorted(ids, key=lambda number: (number * 7919) % 1009)  # not the id order
    return [
        message(
            f"msg_{number:05d}",
            models[number % len(models)],
            input_tokens=number % 97 + 1,
            cache_creation_input_tokens=number % 13,
            cache_read_input_tokens=number % 1000,
            output_tokens=number % 31,
            ts=int((NOW - timedelta(minutes=number % 600)).timestamp()),
        )
        for number in order
    ]


def test_it_ends_with_exact_counts_when_8_threads_replay_overlapping_batches(frozen_now):
    start = threading.Barrier(THREADS)
    results: list[dict] = []
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        try:
            start.wait(timeout=30)
            for _replay in range(2):
                results.append(
                    messages_ingest(
                        body={"machine": "shared-box", "messages": _batch(thread)},
                        user="alice",
                        actor="test",
                    )
                )
        except BaseException as error:  # reported below, with the thread's traceback lost
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    distinct = (THREADS - 1) * STRIDE + BATCH
    assert UsageRecord.objects.count() == distinct
    assert sum(result["applied"] for result in results) == distinct
    assert sum(result["duplicates"] for result in results) == 2 * THREADS * BATCH - distinct
    assert AuditEvent.objects.filter(action="ingest.batch").count() == 2 * THREADS
    assert rollups_stored() == rollups_from_records()
