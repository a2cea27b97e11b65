"""config.asgi: every request but the streams runs in one thread hop (request signal, Django's
sync stack, the close of an answer already in memory), on threads that are reused; a mixed
stack under ASGI crossed between loop and thread ~20 times."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import SyncToAsync
from django.core.signals import request_finished, request_started

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


events: list[str] = []


async def call(path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []
    delivered = False

    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            events.append("body complete")

    await application(scope(path), receive, send)
    events.append("sent")
    start = sent[0]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], dict(start["headers"]), body


def test_it_serves_a_request_in_one_hop(monkeypatch):
    hops = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        hops.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)

    status, headers, body = asyncio.run(call("/health"))

    assert (status, body) == (200, b'{"ok": true, "database": "ok"}')
    assert b"X-Request-Id" in headers  # the whole middleware stack ran
    assert len(hops) == 1, hops


def test_it_reuses_threads_between_requests():
    threads = []

    def seen(**kwargs):
        threads.append(threading.get_ident())

    request_started.connect(seen)
    try:

        async def two():
            await call("/health")
            await call("/health")

        asyncio.run(two())
    finally:
        request_started.disconnect(seen)

    assert len(threads) == 2
    assert threads[0] == threads[1] != threading.get_ident()


def test_it_answers_unknown_api_routes_in_their_dialect():
    status, headers, body = asyncio.run(call("/api/nothing-here"))

    assert status == 404
    assert headers[b"Content-Type"] == b"application/json"


@pytest.fixture
def finished():
    seen = []

    def record(**kwargs):
        seen.append("finished")
        events.append("request_finished")

    events.clear()
    request_finished.connect(record)
    yield seen
    request_finished.disconnect(record)


@pytest.mark.urls("tests.core.asgi_urls")
def test_it_closes_an_answer_in_memory_in_the_same_hop(finished):
    status, _headers, body = asyncio.run(call("/plain"))

    assert (status, body) == (200, b"plain")
    assert events == ["request_finished", "body complete", "sent"]


@pytest.mark.urls("tests.core.asgi_urls")
def test_it_closes_a_streaming_answer_after_sending_it(finished):
    status, headers, body = asyncio.run(call("/chunks"))

    assert (status, body) == (200, b"one,two")
    assert headers[b"Content-Type"] == b"text/csv"
    assert events == ["body complete", "request_finished", "sent"]
