"""Per-connection limits of the ASGI server, in front of Django.

Django's ASGI handler reads a request's whole body (spooling it to disk past 2.5 MiB) before any
middleware or view runs, so a body limit or a body timeout inside Django comes too late. This
layer answers first:

- a body announced larger than MAX_REQUEST_BODY_BYTES: 413 at once, nothing read, connection
  closed; a body sent without a length (chunked) that grows past the limit: 413 as soon as it
  does;
- a body that does not arrive in full within REQUEST_BODY_TIMEOUT seconds: 408.

Request *headers* are read by the server before any ASGI code runs; their timeout is the
protocol's (config/server.py, used by the gunicorn worker `make run` starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings

from core.errors import dialect_for_path, error_body


def _body(path: str, status: int, message: str) -> tuple[bytes, bytes]:
    dialect = dialect_for_path(path)
    if dialect is None:
        return message.encode(), b"text/plain; charset=utf-8"
    return json.dumps(error_body(dialect, message)).encode(), b"application/json"


# SSE streams live for hours. Django gives every ASGI request a thread of its own for its sync
# parts, kept until the request ends and then joined by yet another thread: thousands of open
# streams are thousands of idle threads, and closing them at once churned through twice as many
# thread joins, stalling every other request for seconds. Streams share a few long-lived threads
# instead (each runs one call at a time, as a thread-sensitive context requires); their sync
# work is the authentication before the stream and the end-of-request signal after it.
STREAM_PATHS = frozenset({"/api/usage/stream", "/embed/stream"})
STREAM_THREADS = 4
_stream_executors = [
    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sse-{index}")
    for index in range(STREAM_THREADS)
]
_next_executor = itertools.cycle(_stream_executors)

# Other requests: Django would start a thread for each (a fresh executor per request context)
# and join it afterwards. They take an idle one-thread executor instead, and give it back:
# one request at a time each, as many as requests in flight, at most IDLE_THREADS kept idle.
IDLE_THREADS = 32
_idle_executors: list[ThreadPoolExecutor] = []


@contextlib.contextmanager
def _request_executor():
    executor = _idle_executors.pop() if _idle_executors else ThreadPoolExecutor(max_workers=1)
    try:
        yield executor
    finally:
        if len(_idle_executors) < IDLE_THREADS:
            _idle_executors.append(executor)
        else:
            executor.shutdown(wait=False)


CLOSING_AT_ONCE = 8
_closing: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _closing_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _closing.get(loop)
    if slots is None:
        _closing.clear()  # one loop per worker process; a new loop only replaces the old one
        slots = _closing[loop] = asyncio.Semaphore(CLOSING_AT_ONCE)
    return slots


class RequestLimits:
    """ASGI middleware: body size and body time limits, answered in the route's dialect; SSE
    streams' sync work on shared threads, other requests' on reused ones."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("path") in STREAM_PATHS:
            return await self._stream(scope, receive, send)
        with _request_executor() as executor:
            # The outermost context wins: Django's own per-request context defers to this one.
            async with ThreadSensitiveContext(executor=executor):
                return await self._limited(scope, receive, send)

    async def _stream(self, scope, receive, send):
        """An SSE stream: shared threads, and its end-of-stream work in a bounded queue.

        When thousands of clients drop at once (a network blip, a proxy restart), each stream's
        teardown is a few steps on the event loop and a thread hop; run all at once they would
        queue ahead of every other request for seconds. A stream whose client has gone waits
        for one of CLOSING_AT_ONCE slots before Django tears it down, so other requests keep
        being served in between."""
        slots = _closing_slots()
        holding = False

        async def stream_receive():
            nonlocal holding
            message = await receive()
            if message["type"] == "http.disconnect" and not holding:
                await slots.acquire()
                holding = True
            return message

        try:
            # The outermost context wins: Django's own per-request context defers to this one.
            async with ThreadSensitiveContext(executor=next(_next_executor)):
                return await self._limited(scope, stream_receive, send)
        finally:
            if holding:
                slots.release()

    async def _limited(self, scope, receive, send):
        limit = settings.MAX_REQUEST_BODY_BYTES
        timeout = settings.REQUEST_BODY_TIMEOUT
        length = _content_length(scope)
        if length is not None and length > limit:
            await _refuse(send, scope, 413, f"Request body too large: at most {limit} bytes.")
            return None

        state = {"received": 0, "complete": False, "refused": False, "started": False}
        deadline = time.monotonic() + timeout

        async def guarded_receive():
            if state["complete"] or state["refused"]:
                return await receive()
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, remaining))
            except TimeoutError:
                state["refused"] = True
                if not state["started"]:
                    await _refuse(send, scope, 408, "Request body not received in time.")
                return {"type": "http.disconnect"}
            if message["type"] != "http.request":
                return message
            state["received"] += len(message.get("body", b""))
            if state["received"] > limit:
                state["refused"] = True
                if not state["started"]:
                    await _refuse(
                        send, scope, 413, f"Request body too large: at most {limit} bytes."
                    )
                return {"type": "http.disconnect"}
            if not message.get("more_body", False):
                state["complete"] = True
            return message

        async def guarded_send(message):
            if state["refused"]:
                return  # our answer went out; the app gave up on the request
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        return await self.app(scope, guarded_receive, guarded_send)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def _refuse(send, scope, status: int, message: str) -> None:
    body, content_type = _body(scope.get("path", ""), status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
