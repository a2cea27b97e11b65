"""Open streams per client IP and per token: what one client may hold at once."""

from __future__ import annotations

import threading
import weakref
from collections import Counter

from django.conf import settings
from django.http import StreamingHttpResponse

from accounts.services import audit_record
from core import ratelimit
from core.client_ip import client_ip
from core.errors import ApplicationError

STREAM_LIMIT_RETRY_AFTER = 30


class StreamSlots:
    """Open streams per key, in this worker process.

    A stream holds a socket, a task and a little memory for as long as its client likes; the
    counts bound what one client can hold (STREAMS_PER_IP, STREAMS_PER_TOKEN; per worker, so a
    server with WORKERS=n allows n times as many). Thread-safe: views admit in worker threads,
    responses release wherever Django closes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()

    def acquire(self, limits: list[tuple[str, int]]) -> bool:
        with self._lock:
            if any(self._open[key] >= limit for key, limit in limits):
                return False
            for key, _limit in limits:
                self._open[key] += 1
            return True

    def release(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._open[key] -= 1
                if self._open[key] <= 0:
                    del self._open[key]

    def count(self, key: str) -> int:
        with self._lock:
            return self._open[key]


stream_slots = StreamSlots()


def stream_admit(request) -> list[str]:
    """Take this request's stream slots (per client IP, and per credential when it has one),
    or 429 with Retry-After when the client already holds its share."""
    limits = [(f"ip:{client_ip(request) or '-'}", settings.STREAMS_PER_IP)]
    principal = request.user
    if getattr(principal, "is_authenticated", False):
        limits.append((f"cred:{principal.rate_key}", settings.STREAMS_PER_TOKEN))
    if stream_slots.acquire(limits):
        return [key for key, _limit in limits]
    bucket = next(key for key, limit in limits if stream_slots.count(key) >= limit)
    if ratelimit.claim_once(f"streams:{bucket}", window=60):
        audit_record(
            action="rate.limited",
            request=request,
            meta={"bucket": f"streams:{bucket}", "limit": dict(limits)[bucket]},
        )
    raise ApplicationError(
        "Too many open streams from this client.",
        status_code=429,
        headers={"Retry-After": str(STREAM_LIMIT_RETRY_AFTER)},
    )


class SlotStreamingResponse(StreamingHttpResponse):
    """Gives its stream slots back when Django closes it, however the stream ended (or, should
    a cancellation ever skip the close, when the response is collected)."""

    def __init__(self, *args, slots: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._release_slots = weakref.finalize(self, stream_slots.release, slots)

    def close(self) -> None:
        self._release_slots()  # a finalizer runs at most once
        super().close()
