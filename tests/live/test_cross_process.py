"""Live events across processes through Redis (LIVE_REDIS): other servers, commands,
and a Redis that goes away and comes back."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.live.server import insert_usage, issue_token
from tests.live.tcp_proxy import TcpProxy
from tests.live.test_stream import ingest, totals

# Cross-process delivery is a Redis feature: these run in .ci/run's second pass (REDIS_URL set).
pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (PostgreSQL + Redis pass)"
)


def test_it_delivers_an_ingest_on_one_server_to_streams_on_another(start_server, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    server_a = start_server()
    server_b = start_server()
    with server_b.stream() as on_b, server_a.stream() as on_a:
        before = on_b.next_event().json()["totals"]["messages"]
        on_a.next_event()
        ingest(server_a, token, machine="cross-a", count=2)
        assert on_b.next_event(timeout=10).json()["totals"]["messages"] == before + 2
        assert on_a.next_event(timeout=10).json()["totals"]["messages"] == before + 2


def test_it_delivers_changes_made_by_a_separate_process(start_server, live_env):
    server = start_server()
    with server.stream() as stream:
        before = stream.next_event().json()["totals"]["messages"]
        # A process of its own, like a management command: it commits, announces and exits.
        insert_usage(live_env, machine="command", batches=1, per_batch=3)
        event = stream.next_event(timeout=10)
        assert event.json()["totals"]["messages"] == before + 3
        assert event.json()["totals"] == totals(server)


def test_it_resubscribes_after_redis_goes_away_and_catches_up(start_server, live_env):
    redis_url = urlsplit(live_env["REDIS_URL"])
    proxy = TcpProxy((redis_url.hostname or "127.0.0.1", redis_url.port or 6379)).start()
    try:
        through_proxy = urlunsplit(redis_url._replace(netloc=f"127.0.0.1:{proxy.port}"))
        server = start_server(REDIS_URL=through_proxy)
        with server.stream() as stream:
            before = stream.next_event().json()["totals"]["messages"]
            proxy.cut()  # the server loses Redis; its clients keep their streams
            insert_usage(live_env, machine="during-outage", per_batch=2)  # announced meanwhile
            time.sleep(1.0)
            proxy.restore()
            # The change announced during the outage was lost, the resubscription catches up.
            caught_up = stream.next_event(timeout=20).json()["totals"]["messages"]
            assert caught_up == before + 2
            # And the subscription is alive again for the next change.
            insert_usage(live_env, machine="after-outage", per_batch=1)
            deadline = time.monotonic() + 10
            latest = caught_up
            while latest < before + 3 and time.monotonic() < deadline:
                latest = stream.next_event(timeout=10).json()["totals"]["messages"]
            assert latest == before + 3
    finally:
        proxy.close()
