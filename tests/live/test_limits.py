"""Per-client limits of the shipped server (gunicorn + the uvicorn worker of config/server.py):
slow or oversized requests and too many streams, tried against the real thing."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.live.server import SseClient, issue_token
from tests.live.tcp_proxy import TcpProxy

LIMITS = {
    "REQUEST_HEADER_TIMEOUT": "1",
    "REQUEST_BODY_TIMEOUT": "2",
    "MAX_REQUEST_BODY_BYTES": str(1024 * 1024),
    "STREAMS_PER_IP": "4",
    "STREAMS_PER_TOKEN": "2",
}


@pytest.fixture
def server(start_server):
    return start_server(workers=1, **LIMITS)


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def json_body(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def test_it_closes_connections_that_trickle_their_headers(server):
    slow = [connect(server) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    started = time.monotonic()

    answers = [read_all(sock) for sock in slow]

    elapsed = time.monotonic() - started
    assert all(status_of(answer) == 408 for answer in answers)
    assert elapsed < 5, elapsed  # closed after the 1 s header timeout, not held open
    assert server.request("GET", "/health")[0] == 200


def test_it_answers_413_to_an_oversized_body_without_reading_it(server):
    sock = connect(server)
    sock.sendall(
        b"POST /api/ingest/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 400000000\r\n\r\n"
    )

    answer = read_all(sock)  # answered and closed while the client has sent nothing

    assert status_of(answer) == 413
    assert json_body(answer) == {"error": "Request body too large: at most 1048576 bytes."}


def test_it_cuts_a_chunked_body_that_grows_past_the_limit(server):
    sock = connect(server)
    sock.sendall(
        b"POST /auth HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    sent, chunk = 0, b"a" * 65536
    with contextlib.suppress(OSError):
        while sent < 64 * 1024 * 1024:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)

    answer = read_all(sock)

    assert sent < 64 * 1024 * 1024  # the server stopped reading long before
    assert status_of(answer) == 413
    assert json_body(answer)["status"] == "error"  # /auth speaks the fleet dialect


def test_it_answers_408_to_a_body_that_does_not_arrive(server):
    sock = connect(server)
    sock.sendall(
        b"POST /api/ingest/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )

    answer = read_all(sock)

    assert status_of(answer) == 408
    assert json_body(answer) == {"error": "Request body not received in time."}


def test_it_limits_open_streams_per_client_ip(server):
    streams = [server.stream() for _ in range(4)]
    try:
        assert [stream.status for stream in streams] == [200] * 4
        status, headers, body = server.request(
            "GET", "/api/usage/stream", headers={"Accept": "text/event-stream"}
        )
        assert status == 429
        assert headers["retry-after"] and json.loads(body)["error"]
        streams.pop().close()
        # The closed stream's slot comes back once the server has noticed.
        deadline = time.monotonic() + 5
        while True:
            again = server.stream()
            if again.status == 200 or time.monotonic() > deadline:
                break
            again.close()
            time.sleep(0.1)
        streams.append(again)
        assert again.status == 200
    finally:
        for stream in streams:
            stream.close()


def test_it_limits_open_streams_per_token(server, live_env):
    token = issue_token(live_env, user="reader", scope="read")
    with_token = [server.stream(f"/api/usage/stream?token={token}") for _ in range(3)]
    try:
        assert [stream.status for stream in with_token] == [200, 200, 429]
        # The address still has room for streams without that token.
        with server.stream() as anonymous:
            assert anonymous.status == 200
    finally:
        for stream in with_token:
            stream.close()


def test_it_frees_every_slot_when_many_streams_close_at_once(start_server):
    server = start_server(workers=1, STREAMS_PER_IP="150", STREAMS_PER_TOKEN="150")
    streams = [server.stream() for _ in range(150)]
    assert {stream.status for stream in streams} == {200}
    for stream in streams:
        stream.close()  # all at once
    assert server.request("GET", "/health")[0] == 200

    # Every slot comes back: 150 streams fit again (a slot still held would answer 429).
    reopened: list[SseClient] = []
    deadline = time.monotonic() + 20
    try:
        while len(reopened) < 150 and time.monotonic() < deadline:
            stream = server.stream()
            if stream.status == 200:
                reopened.append(stream)
            else:
                stream.close()
                time.sleep(0.2)
        assert len(reopened) == 150
    finally:
        for stream in reopened:
            stream.close()


@pytest.mark.postgres_only
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="cuts the server's PostgreSQL connections; SQLite has no server to lose",
)
def test_it_answers_503_with_retry_after_while_postgres_is_unreachable(start_server, live_env):
    parts = urlsplit(live_env["DATABASE_URL"])
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).start()
    user = f"{parts.username}@" if parts.username else ""
    proxied = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    try:
        server = start_server(workers=1, DATABASE_URL=proxied)
        assert server.request("GET", "/api/usage/totals")[0] == 200
        proxy.cut()
        for path in ("/api/usage/totals", "/api/usage/recent", "/versions"):
            status, headers, body = server.request("GET", path, timeout=30)
            assert status == 503, (path, body)
            assert headers["retry-after"] == "5"
            assert headers["content-type"] == "application/json"
        proxy.restore()
        deadline = time.monotonic() + 20
        while server.request("GET", "/api/usage/totals")[0] != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.5)
    finally:
        proxy.close()
