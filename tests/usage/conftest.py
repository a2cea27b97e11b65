"""Usage test cast: a frozen clock, a message builder and an ingest helper."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now():
    """The clock stands still at NOW (ingest refuses ts more than a day in the future)."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


def message(message_id: str, model: str = "claude-sonnet-4-6", **fields) -> dict:
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
