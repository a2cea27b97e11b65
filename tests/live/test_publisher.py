"""The coalescing publisher and the per-stream generator, driven on a real event loop with a
fake totals computation (the live-server tests cover the database and the sockets)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from usage.live import channel
from usage.live import hub as live
from usage.models import UsageRecord
from usage.records import NewRecord
from usage.services.ingest import records_insert
from usage.signals import usage_changed


class FakeTotals:
    """Stands in for the database: `state` is what a computation would read right now."""

    def __init__(self, fail_first: int = 0) -> None:
        self.state = 0
        self.calls = 0
        self.fail_first = fail_first

    def __call__(self) -> dict:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise RuntimeError("database unavailable")
        return {"totals": {"messages": self.state}, "timestamp": int(time.time())}


def _messages(frame: bytes) -> int:
    data = frame.decode().split("data: ", 1)[1].strip()
    return json.loads(data)["totals"]["messages"]


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_it_publishes_at_most_once_per_interval_and_always_the_last_change():
    async def scenario():
        totals = FakeTotals()
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.3, use_redis=False
        )
        published_at = []
        hub_set_frame = hub._set_frame

        def record(frame, news):
            published_at.append(time.monotonic())
            hub_set_frame(frame, news)

        hub._set_frame = record  # type: ignore[method-assign]
        for _ in range(20):  # a burst of commits within 0.1 s
            totals.state += 1
            hub.changed()
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.8)
        return totals, hub, published_at

    totals, hub, published_at = asyncio.run(scenario())
    # The first change goes out at once, the other 19 become one trailing frame.
    assert hub.published == 2 and totals.calls == 2
    assert published_at[1] - published_at[0] >= 0.3
    assert _messages(hub.frame) == 20


def test_it_computes_once_per_event_whatever_the_number_of_streams(settings):
    settings.SSE_KEEPALIVE_SECONDS = 30

    async def scenario():
        totals = FakeTotals()
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.0, use_redis=False
        )
        streams = [live.totals_stream(hub) for _ in range(50)]
        first = await asyncio.gather(*(stream.__anext__() for stream in streams))
        assert totals.calls == 1  # one computation shared by the 50 connects
        assert hub.subscribers == 50
        totals.state = 7
        pending = [asyncio.ensure_future(stream.__anext__()) for stream in streams]
        await asyncio.sleep(0.01)
        hub.changed()
        frames = await asyncio.wait_for(asyncio.gather(*pending), timeout=5)
        for stream in streams:
            await stream.aclose()
        return totals, hub, first, frames

    totals, hub, first, frames = asyncio.run(scenario())
    assert all(frame.endswith(b"\n\n") and b"event: totals\n" in frame for frame in first)
    assert totals.calls == 2
    assert all(frame is frames[0] for frame in frames)  # the very same bytes for every stream
    assert _messages(frames[0]) == 7
    assert hub.subscribers == 0


def test_it_starts_with_a_retry_hint_and_the_current_totals(settings):
    settings.SSE_RETRY_MS = 2500

    async def scenario():
        totals = FakeTotals()
        totals.state = 3
        hub = live.TotalsHub(asyncio.get_running_loop(), compute=totals, use_redis=False)
        stream = live.totals_stream(hub)
        try:
            return await stream.__anext__()
        finally:
            await stream.aclose()

    chunk = asyncio.run(scenario())
    assert chunk.startswith(b"retry: 2500\nevent: totals\ndata: ")
    assert _messages(chunk) == 3


def test_it_lets_a_slow_stream_skip_to_the_newest_frame(settings):
    settings.SSE_KEEPALIVE_SECONDS = 0.2

    async def scenario():
        totals = FakeTotals()
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.0, use_redis=False
        )
        stream = live.totals_stream(hub)
        await stream.__anext__()
        for state in (1, 2, 3):  # three frames while the client reads nothing
            totals.state = state
            hub.changed()
            await _until(lambda expected=state: hub.published == expected)
        newest = await stream.__anext__()
        after = await stream.__anext__()
        await stream.aclose()
        return newest, after

    newest, after = asyncio.run(scenario())
    assert _messages(newest) == 3
    assert after == live.KEEPALIVE_FRAME  # no backlog of stale frames follows


def test_it_sends_keepalive_comments(settings):
    settings.SSE_KEEPALIVE_SECONDS = 0.05

    async def scenario():
        hub = live.TotalsHub(asyncio.get_running_loop(), compute=FakeTotals(), use_redis=False)
        stream = live.totals_stream(hub)
        await stream.__anext__()
        chunks = [await asyncio.wait_for(stream.__anext__(), timeout=2) for _ in range(2)]
        await stream.aclose()
        return chunks

    assert asyncio.run(scenario()) == [b": keep-alive\n\n", b": keep-alive\n\n"]


def test_it_retries_a_failed_computation_and_gets_the_change_out(monkeypatch, caplog):
    monkeypatch.setattr(live, "FAILURE_RETRY_SECONDS", 0.1)

    async def scenario():
        totals = FakeTotals(fail_first=1)
        totals.state = 5
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.0, use_redis=False
        )
        hub.changed()
        await _until(lambda: hub.published == 1)
        return hub

    with caplog.at_level(logging.ERROR, logger="tokenfleet.live"):
        hub = asyncio.run(scenario())
    assert _messages(hub.frame) == 5
    assert "could not be computed" in caplog.text


def test_it_delivers_an_announcement_from_another_thread_without_redis(settings):
    """The zero-setup path: the announcement wakes this process's hub on its own loop."""
    settings.LIVE_REDIS = None

    async def scenario():
        totals = FakeTotals()
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.0, use_redis=False
        )
        hub.start()
        try:
            totals.state = 4
            sender = threading.Thread(target=channel.change_announce)  # as an ingest thread would
            sender.start()
            sender.join(5)
            await _until(lambda: hub.published == 1)
            return hub
        finally:
            hub.stop()

    hub = asyncio.run(scenario())
    assert _messages(hub.frame) == 4


def test_it_connects_the_receiver_to_usage_changed(monkeypatch):
    calls = []

    def announce() -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr(channel, "change_announce", announce)
    usage_changed.send(sender=UsageRecord, count=1)
    assert calls == [1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


@pytest.mark.django_db
def test_it_never_fails_an_ingest_when_redis_is_unreachable(
    settings, caplog, django_capture_on_commit_callbacks
):
    settings.LIVE_REDIS = {
        "host": "127.0.0.1",
        "port": _closed_port(),
        "socket_connect_timeout": 1,
        "retry": None,
    }
    assert channel.change_announce() is False

    record = NewRecord(
        message_id="msg_redis_down",
        source="claude",
        user="alice",
        machine="mbp",
        model="claude-sonnet-4-5",
        ts=datetime(2026, 11, 1, tzinfo=UTC),
        input=10,
        output=5,
    )
    with (
        caplog.at_level(logging.WARNING, logger="tokenfleet.live"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        result = records_insert(records=[record])
    assert callbacks, "usage_changed is sent on commit"
    assert result.inserted == ["msg_redis_down"]
    assert UsageRecord.objects.filter(message_id="msg_redis_down").exists()
    assert "live update not sent (ConnectionError" in caplog.text


def test_it_sends_no_event_when_the_totals_did_not_move():
    async def scenario():
        totals = FakeTotals()
        hub = live.TotalsHub(
            asyncio.get_running_loop(), compute=totals, interval=0.0, use_redis=False
        )
        await hub.snapshot()  # a stream connected: the hub knows the current totals
        hub.changed()  # e.g. a replayed batch, or the republish after a resubscription
        await _until(lambda: totals.calls == 2)
        await asyncio.sleep(0.05)
        unchanged = hub.published
        totals.state = 1
        hub.changed()
        await _until(lambda: hub.published == 1)
        return unchanged, hub

    unchanged, hub = asyncio.run(scenario())
    assert unchanged == 0
    assert hub.version == 1 and _messages(hub.frame) == 1
