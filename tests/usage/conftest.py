"""Usage test cast: a frozen clock, a message builder and an ingest helper."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour

from usage.models import UsageRecord
from usage.records import NewRecord
from usage.rollups import COUNTERS, LEVELS, RECORD_COUNTERS
from usage.services.ingest import records_insert

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now():
    """The clock stands still at NOW (ingest refuses ts more than a day in the future)."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


def message(message_id: str, model: str | None = "claude-sonnet-4-6", **fields) -> dict:
    """An ingest message shaped like the collector sends it; `ts` defaults to an hour before NOW."""
    body = {
        "message_id": message_id,
        "model": model,
        "input_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 0,
        "ts": int(NOW.timestamp()) - 3600,
    }
    body.update(fields)
    return body


@pytest.fixture
def ingest(client_for, alice_ingest_token):
    """`ingest(messages, machine=...)` posts one batch as alice and returns the response."""

    def post(messages: list, machine: str = "alice-mbp", token: str | None = None):
        client = client_for(token or alice_ingest_token)
        return client.post(
            "/api/ingest/messages", {"machine": machine, "messages": messages}, format="json"
        )

    return post


@pytest.fixture
def fake_upstream():
    """A real HTTP server on loopback: `serve(path, status, body)` then GET `url + path`."""
    routes: dict[str, tuple[int, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = routes.get(self.path, (404, b"{}"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Upstream:
        url = f"http://127.0.0.1:{server.server_address[1]}"

        @staticmethod
        def serve(path: str, status: int = 200, body: object = None) -> str:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            routes[path] = (status, data)
            return Upstream.url + path

    yield Upstream
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def rollups_from_records() -> dict[str, dict]:
    """Every rollup level recomputed with a GROUP BY over the raw records."""
    sums = {name: Sum(name) for name in RECORD_COUNTERS}
    records = UsageRecord.objects.annotate(hour=TruncHour("ts"), day=TruncDate("ts"))
    expected = {}
    for level in LEVELS:
        columns = list(level.key)
        if level.family_is_attribute:
            columns.append("model_family")
        rows = records.values(*columns).annotate(messages=Count("id"), **sums).order_by()
        expected[level.model.__name__] = {
            tuple(row[name] for name in level.key): {
                name: row[name] for name in columns[len(level.key) :]
            }
            | {name: row[name] for name in COUNTERS}
            for row in rows
        }
    return expected


def rollups_stored() -> dict[str, dict]:
    stored = {}
    for level in LEVELS:
        columns = list(level.key)
        if level.family_is_attribute:
            columns.append("model_family")
        stored[level.model.__name__] = {
            tuple(row[name] for name in level.key): {
                name: row[name] for name in columns[len(level.key) :]
            }
            | {name: row[name] for name in COUNTERS}
            for row in level.model._default_manager.values(*columns, *COUNTERS)
            if row["messages"]
        }
    return stored


def record(message_id: str, ts: datetime, **fields) -> NewRecord:
    """A NewRecord for alice@alice-mbp on Sonnet 4.6 unless told otherwise."""
    values: dict[str, Any] = {
        "source": "claude",
        "user": "alice",
        "machine": "alice-mbp",
        "model": "claude-sonnet-4-6",
    }
    values.update(fields)
    return NewRecord(message_id=message_id, ts=ts, **values)


def seed(*records: NewRecord) -> None:
    records_insert(records=list(records))


def raw_sums(**filters) -> dict:
    """Totals computed straight from the raw records, for comparing with the rollup reads."""
    rows = UsageRecord.objects.filter(**filters)
    sums = rows.aggregate(
        messages=Count("id"),
        input=Sum("input"),
        cache_creation=Sum("cache_creation"),
        cache_read=Sum("cache_read"),
        output=Sum("output"),
        cost=Sum("cost_micros"),
    )
    return {
        "input": sums["input"] or 0,
        "cacheCreation": sums["cache_creation"] or 0,
        "cacheRead": sums["cache_read"] or 0,
        "output": sums["output"] or 0,
        "sum": (sums["input"] or 0)
        + (sums["cache_creation"] or 0)
        + (sums["cache_read"] or 0)
        + (sums["output"] or 0),
        "messages": sums["messages"],
        "costUsd": (sums["cost"] or 0) / 10**6,
    }
