"""/api/usage/stream and /embed/stream against a real uvicorn server (sockets, ASGI)."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest

from tests.live.server import issue_token


def ingest(server, token: str, *, machine: str, count: int = 1) -> dict:
    now = int(time.time())
    body = {
        "machine": machine,
        "messages": [
            {
                "message_id": f"msg_{uuid.uuid4().hex}",
                "model": "claude-sonnet-4-5",
                "input_tokens": 100,
                "cache_creation_input_tokens": 10,
                "cache_read_input_tokens": 1000,
                "output_tokens": 50,
                "ts": now,
            }
            for _ in range(count)
        ],
    }
    return server.json(
        "POST", "/api/ingest/messages", body=body, headers={"Authorization": f"Bearer {token}"}
    )


def totals(server) -> dict:
    return server.json("GET", "/api/usage/totals")["totals"]


def test_it_streams_totals_on_connect_and_after_an_ingest(start_server, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    server = start_server()
    with server.stream() as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        first = stream.next_frame(timeout=10)
        assert first.retry == 3000
        assert first.event == "totals"
        assert first.json()["totals"] == totals(server)
        before = first.json()["totals"]["messages"]

        assert ingest(server, token, machine="live-1", count=3)["applied"] == 3
        event = stream.next_event(timeout=10)
        assert event.json()["totals"]["messages"] == before + 3
        assert event.json()["totals"] == totals(server)
        assert isinstance(event.json()["timestamp"], int)


def test_it_sends_keepalive_comments_on_an_idle_stream(start_server):
    server = start_server(SSE_KEEPALIVE_SECONDS="0.5")
    with server.stream() as stream:
        assert stream.next_frame().event == "totals"
        idle = stream.next_frame(timeout=5)
        assert idle.event is None and idle.data is None
        assert idle.comments == ["keep-alive"]


def test_it_coalesces_a_burst_of_changes(start_server, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    server = start_server(SSE_MIN_INTERVAL_MS="1000")
    with server.stream() as stream:
        before = stream.next_event().json()["totals"]["messages"]
        burst_seconds: list[float] = []

        def burst() -> None:
            started = time.monotonic()
            for _ in range(10):  # ten commits back to back: ten change notifications
                ingest(server, token, machine="burst")
            burst_seconds.append(time.monotonic() - started)

        # Frames are read while the burst runs, so their arrival times are real.
        sender = threading.Thread(target=burst)
        sender.start()
        frames = stream.events_until(time.monotonic() + 4.0)
        sender.join(10)
    messages = [frame.json()["totals"]["messages"] for frame in frames]
    assert messages and messages[-1] == before + 10  # the last change always gets out
    assert messages == sorted(messages)
    # At most one frame per second (plus the leading one), far fewer than ten.
    assert burst_seconds and len(frames) <= int(burst_seconds[0] / 1.0) + 2
    gaps = [b.received_at - a.received_at for a, b in zip(frames, frames[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_it_serves_many_streams_and_drops_closed_ones(start_server, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    server = start_server()
    streams = [server.stream() for _ in range(20)]
    try:
        for stream in streams:
            stream.next_event()
        for stream in streams[:10]:  # clients that vanish without a word
            stream.close()
        applied = ingest(server, token, machine="many")["applied"]
        assert applied == 1
        expected = totals(server)["messages"]
        for stream in streams[10:]:
            assert stream.next_event(timeout=10).json()["totals"]["messages"] == expected
    finally:
        for stream in streams:
            stream.close()


def test_it_needs_a_token_when_usage_is_not_public(start_server, live_env):
    token = issue_token(live_env, user="reader", scope="read")
    server = start_server(USAGE_API_PUBLIC="false")
    status, _headers, body = server.request("GET", "/api/usage/stream")
    assert status == 401 and "error" in json.loads(body)
    with server.stream(f"/api/usage/stream?token={token}") as stream:
        assert stream.status == 200
        assert stream.next_event().json()["totals"]["messages"] >= 0


def test_it_streams_to_a_whitelisted_embed_origin(start_server, live_env):
    admin = issue_token(live_env, user="root", scope="admin")
    embed = issue_token(live_env, user="board", scope="embed")
    ingest_token = issue_token(live_env, user="alice", scope="ingest")
    server = start_server()
    origin = f"https://board-{uuid.uuid4().hex[:8]}.example.com"
    server.json(
        "POST",
        "/api/admin/embed-origins",
        body={"origin": origin.upper() + "/"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    status, _headers, _body = server.request(
        "GET", f"/embed/stream?token={embed}", headers={"Origin": "https://evil.example"}
    )
    assert status == 403
    with server.stream(f"/embed/stream?token={embed}", headers={"Origin": origin}) as stream:
        assert stream.status == 200
        assert stream.headers["access-control-allow-origin"] == origin
        before = stream.next_event().json()["totals"]["messages"]
        ingest(server, ingest_token, machine="embed")
        assert stream.next_event().json()["totals"]["messages"] == before + 1


def test_it_serves_streams_from_gunicorn_with_the_uvicorn_worker(start_server, live_env):
    """As `make run` serves: gunicorn, uvicorn worker class (one worker without Redis)."""
    token = issue_token(live_env, user="alice", scope="ingest")
    workers = 2 if live_env.get("REDIS_URL") else 1
    server = start_server(workers=workers)
    streams = [server.stream() for _ in range(6)]
    try:
        before = [stream.next_event().json()["totals"]["messages"] for stream in streams]
        ingest(server, token, machine="gunicorn", count=2)
        after = [stream.next_event().json()["totals"]["messages"] for stream in streams]
        assert after == [count + 2 for count in before]
    finally:
        for stream in streams:
            stream.close()


@pytest.mark.parametrize("path", ["/api/usage/stream", "/embed/stream"])
def test_it_answers_json_errors_before_streaming(start_server, path):
    server = start_server(USAGE_API_PUBLIC="false")
    status, headers, body = server.request("GET", path, headers={"Accept": "text/event-stream"})
    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="server connections are a PostgreSQL matter; SQLite has none to pin",
)
@pytest.mark.parametrize(
    ("conn_max_age", "most"),
    # Persistent connections: only those of the threads that computed totals. Default (0): at
    # most what a per-worker pool may keep idle, should one be configured.
    [("60", 3), ("0", 11)],
)
def test_it_pins_no_database_connection_per_stream(start_server, live_env, conn_max_age, most):
    from tests.live.server import _postgres_admin_connect

    database = urlsplit(live_env["DATABASE_URL"]).path.lstrip("/")
    admin = issue_token(live_env, user="root", scope="admin")
    embed = issue_token(live_env, user="board", scope="embed")
    # 24 streams of one token from one address: more than the per-client defaults allow.
    server = start_server(
        DB_CONN_MAX_AGE=conn_max_age, STREAMS_PER_IP="100", STREAMS_PER_TOKEN="100"
    )
    origin = f"https://pins-{uuid.uuid4().hex[:8]}.example.com"
    server.json(
        "POST",
        "/api/admin/embed-origins",
        body={"origin": origin},
        headers={"Authorization": f"Bearer {admin}"},
    )
    # Embed streams query the database before streaming (token, origin): the worst case.
    path = f"/embed/stream?token={embed}"
    streams = [server.stream(path, headers={"Origin": origin}) for _ in range(24)]
    try:
        for stream in streams:
            stream.next_event()
        with _postgres_admin_connect(os.environ["DATABASE_URL"]) as admin:
            open_connections = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [database]
            ).fetchone()[0]
        assert open_connections <= most, open_connections  # not one per stream
        assert server.request("GET", "/api/usage/totals", timeout=5)[0] == 200
    finally:
        for stream in streams:
            stream.close()
