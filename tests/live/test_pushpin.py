"""/api/usage/stream and /embed/stream through a real Pushpin in front of gunicorn's threaded WSGI
worker (GRIP_URL set), as `make run-production` and deploy/ serve them: Django answers each
stream request at once and Pushpin holds the connection."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid

import jwt
import pytest

from tests.live.server import insert_usage, issue_token
from tests.live.test_stream import ingest, totals


def drain_recovery(stream) -> None:
    """Pushpin asks for the stream's follow-up link about a second after it first subscribes
    (closing the gap between our read and its subscription), which repeats the opening totals;
    tests that count frames start after it. Needs SSE_KEEPALIVE_SECONDS=1: a read that times
    out leaves the connection unreadable."""
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        stream.next_frame(timeout=5)


def test_it_streams_totals_on_connect_and_after_an_ingest(start_pushpin, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    front = start_pushpin()
    with front.stream() as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        first = stream.next_frame(timeout=10)
        assert first.retry == 3000
        assert first.event == "totals"
        assert first.json()["totals"] == totals(front)
        before = first.json()["totals"]["messages"]

        assert ingest(front, token, machine="grip-1", count=3)["applied"] == 3
        deadline = time.monotonic() + 10
        while True:  # Pushpin's own recovery request may repeat the opening totals first
            event = stream.next_event(timeout=max(0.1, deadline - time.monotonic()))
            if event.json()["totals"]["messages"] != before:
                break
        assert event.json()["totals"]["messages"] == before + 3
        assert event.json()["totals"] == totals(front)


def test_it_holds_streams_in_pushpin_not_in_worker_threads(start_pushpin, live_env):
    """One worker with two threads serves twenty open streams and still answers /health."""
    token = issue_token(live_env, user="alice", scope="ingest")
    front = start_pushpin(workers=1, threads=2)
    streams = [front.stream() for _ in range(20)]
    try:
        before = [stream.next_event().json()["totals"]["messages"] for stream in streams]
        started = time.monotonic()
        assert front.request("GET", "/health", timeout=5)[0] == 200
        assert front.origin.request("GET", "/health", timeout=5)[0] == 200
        assert time.monotonic() - started < 2.0
        ingest(front, token, machine="grip-many", count=2)
        for stream, count in zip(streams, before, strict=True):
            deadline = time.monotonic() + 10
            while (
                stream.next_event(timeout=deadline - time.monotonic()).json()["totals"]["messages"]
                != count + 2
            ):
                pass
    finally:
        for stream in streams:
            stream.close()


def test_it_refuses_a_stream_that_did_not_come_through_pushpin(start_pushpin):
    front = start_pushpin(workers=1, threads=2)
    for _ in range(6):  # more than the worker has threads: none of them may hang
        status, headers, body = front.origin.request(
            "GET", "/api/usage/stream", headers={"Accept": "text/event-stream"}, timeout=5
        )
        assert status == 421
        assert headers["content-type"].startswith("application/json")
        assert "Pushpin" in json.loads(body)["error"]
    # A forged signature is no better than none.
    forged = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, "not-the-key-" * 4)
    status, _headers, _body = front.origin.request(
        "GET", "/api/usage/stream", headers={"Grip-Sig": forged}, timeout=5
    )
    assert status == 421
    assert front.origin.request("GET", "/health", timeout=5)[0] == 200


def test_it_accepts_pushpins_follow_up_only_with_a_valid_es_meta(start_pushpin, live_env):
    """Pushpin's `link=next&recover=true` request carries no credential: the signed es-meta of
    the admitted stream stands for it. Sent here as Pushpin would, signed with GRIP_URL's key."""
    from urllib.parse import parse_qs, urlsplit

    key = parse_qs(urlsplit(live_env.get("GRIP_URL") or "").query).get("key")
    front = start_pushpin(USAGE_API_PUBLIC="false")
    key = parse_qs(urlsplit(front.env["GRIP_URL"]).query)["key"][0]
    signed = {"Grip-Sig": jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, key)}
    secret = front.env["SECRET_KEY"]

    def follow_up(meta: dict) -> tuple[int, bytes]:
        es_meta = jwt.encode(meta, secret, algorithm="HS256")
        path = f"/api/usage/stream?link=next&recover=true&es-meta={es_meta}"
        status, _headers, body = front.origin.request("GET", path, headers=signed, timeout=5)
        return status, body

    valid = {"iss": "es", "exp": int(time.time()) + 60, "channels": ["totals"], "user": "anonymous"}
    status, body = follow_up(valid)
    assert status == 200 and b"event: totals" in body and b"retry:" not in body
    assert follow_up({**valid, "exp": int(time.time()) - 1})[0] == 403
    assert follow_up({**valid, "channels": ["other"]})[0] == 403
    # Without a credential and without es-meta, the stream is refused as before.
    assert front.origin.request("GET", "/api/usage/stream", headers=signed)[0] == 401


def test_it_needs_a_token_when_usage_is_not_public(start_pushpin, live_env):
    token = issue_token(live_env, user="reader", scope="read")
    front = start_pushpin(USAGE_API_PUBLIC="false")
    status, _headers, body = front.request("GET", "/api/usage/stream")
    assert status == 401 and "error" in json.loads(body)
    with front.stream(f"/api/usage/stream?token={token}") as stream:
        assert stream.status == 200
        assert stream.next_event().json()["totals"]["messages"] >= 0
        time.sleep(2.0)  # Pushpin's follow-up (no token on it) must not end the stream
        assert stream.next_frame(timeout=5) is not None


def test_it_streams_to_a_whitelisted_embed_origin(start_pushpin, live_env):
    admin = issue_token(live_env, user="root", scope="admin")
    embed = issue_token(live_env, user="board", scope="embed")
    ingest_token = issue_token(live_env, user="alice", scope="ingest")
    front = start_pushpin(SSE_KEEPALIVE_SECONDS="1")
    origin = f"https://board-{uuid.uuid4().hex[:8]}.example.com"
    front.json(
        "POST",
        "/api/admin/embed-origins",
        body={"origin": origin},
        headers={"Authorization": f"Bearer {admin}"},
    )
    status, headers, _body = front.request(
        "GET", f"/embed/stream?token={embed}", headers={"Origin": "https://evil.example"}
    )
    assert status == 403 and "access-control-allow-origin" not in headers
    with front.stream(f"/embed/stream?token={embed}", headers={"Origin": origin}) as stream:
        assert stream.status == 200
        assert stream.headers["access-control-allow-origin"] == origin
        before = stream.next_event().json()["totals"]["messages"]
        ingest(front, ingest_token, machine="grip-embed")
        deadline = time.monotonic() + 10
        while (
            stream.next_event(timeout=deadline - time.monotonic()).json()["totals"]["messages"]
            != before + 1
        ):
            pass


def test_it_sends_keepalive_comments_from_pushpin(start_pushpin):
    front = start_pushpin(SSE_KEEPALIVE_SECONDS="1")
    with front.stream() as stream:
        assert stream.next_frame().event == "totals"
        deadline = time.monotonic() + 5
        while True:
            frame = stream.next_frame(timeout=max(0.1, deadline - time.monotonic()))
            if frame.event is None:
                break
        assert frame.data is None and frame.comments == ["keep-alive"]


def test_it_coalesces_a_burst_of_changes(start_pushpin, live_env):
    token = issue_token(live_env, user="alice", scope="ingest")
    front = start_pushpin(SSE_MIN_INTERVAL_MS="1000", SSE_KEEPALIVE_SECONDS="1")
    with front.stream() as stream:
        before = stream.next_event().json()["totals"]["messages"]
        drain_recovery(stream)
        burst_seconds: list[float] = []

        def burst() -> None:
            started = time.monotonic()
            for _ in range(10):  # ten commits back to back: ten change notifications
                ingest(front, token, machine="grip-burst")
            burst_seconds.append(time.monotonic() - started)

        sender = threading.Thread(target=burst)
        sender.start()
        frames = stream.events_until(time.monotonic() + 4.0)
        sender.join(10)
    messages = [frame.json()["totals"]["messages"] for frame in frames]
    assert messages and messages[-1] == before + 10  # the last change always gets out
    assert messages == sorted(messages)
    assert burst_seconds and len(frames) <= int(burst_seconds[0] / 1.0) + 2
    gaps = [b.received_at - a.received_at for a, b in zip(frames, frames[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_it_publishes_a_change_made_by_another_process(start_pushpin, live_env):
    """A management command's commit reaches the streams before the command exits."""
    front = start_pushpin()
    with front.stream() as stream:
        before = stream.next_event().json()["totals"]["messages"]
        insert_usage(front.env, machine="grip-command", batches=1, per_batch=2)
        deadline = time.monotonic() + 10
        while (
            stream.next_event(timeout=deadline - time.monotonic()).json()["totals"]["messages"]
            != before + 2
        ):
            pass


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="several workers need REDIS_URL",
)
def test_it_publishes_once_per_interval_across_workers(start_pushpin, live_env):
    """With Redis, several workers share one interval: frames stay apart by it."""
    token = issue_token(live_env, user="alice", scope="ingest")
    front = start_pushpin(
        workers=2, threads=4, SSE_MIN_INTERVAL_MS="1000", SSE_KEEPALIVE_SECONDS="1"
    )
    with front.stream() as stream:
        before = stream.next_event().json()["totals"]["messages"]
        drain_recovery(stream)

        def burst() -> None:
            for _ in range(12):  # spread over both workers by the kernel's accept
                ingest(front, token, machine="grip-workers")

        senders = [threading.Thread(target=burst) for _ in range(2)]
        for sender in senders:
            sender.start()
        frames = stream.events_until(time.monotonic() + 5.0)
        for sender in senders:
            sender.join(10)
    messages = [frame.json()["totals"]["messages"] for frame in frames]
    assert messages and messages[-1] == before + 24
    gaps = [b.received_at - a.received_at for a, b in zip(frames, frames[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


def test_gunicorn_refuses_a_wsgi_worker_without_pushpin(live_env, tmp_path):
    """Without GRIP_URL a stream request would hold a threaded worker's thread for good."""
    import subprocess

    from tests.live.server import PYTHON, ROOT, free_port

    environment = {**live_env, "GRIP_URL": ""}
    result = subprocess.run(
        [PYTHON, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--worker-class", "gthread"]
        + ["--bind", f"127.0.0.1:{free_port()}", "config.wsgi:application"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "needs Pushpin in front (GRIP_URL)" in result.stderr + result.stdout
