"""Fixed-window counters in the Django cache (Redis when REDIS_URL is set, shared by workers)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from core.cache import CacheRound, counter_incr, request_get


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int
    limit: int
    retry_after: int


def _window_key(key: str, window: int, now: float) -> tuple[str, int]:
    index = int(now // window)
    retry_after = max(1, math.ceil((index + 1) * window - now))
    return f"rl:{key}:{window}:{index}", retry_after


def hit(
    key: str, *, limit: int, window: int, now: float | None = None, request: Any = None
) -> Verdict:
    """Count one request against `key`; allowed while the window's count stays within `limit`.
    With `request`: counted once, by `count_ahead` if that already counted it."""
    now = time.time() if now is None else now
    cache_key, retry_after = _window_key(key, window, now)
    count = _counted(request, cache_key)
    if count is None:
        count = counter_incr(cache_key, timeout=window + 5)
    return Verdict(count <= limit, count, limit, retry_after)


def count_ahead(
    cache_round: CacheRound, request: Any, key: str, *, window: int, now: float | None = None
) -> Callable[[int], None]:
    """Put the count of `hit(key, ..., request=request)` into `cache_round` (one round trip with
    other work); call the returned function with its result once the round has run."""
    now = time.time() if now is None else now
    cache_key, _retry_after = _window_key(key, window, now)
    cache_round.counter_incr(cache_key, timeout=window + 5)

    def counted(count: int) -> None:
        _counts(request)[cache_key] = count

    return counted


def _counts(request: Any) -> dict[str, int]:
    django_request = getattr(request, "_request", request)
    counts: dict[str, int] | None = getattr(django_request, "_ratelimit_counted", None)
    if counts is None:
        counts = {}
        django_request._ratelimit_counted = counts
    return counts


def _counted(request: Any, cache_key: str) -> int | None:
    if request is None:
        return None
    return _counts(request).pop(cache_key, None)


def peek(
    key: str, *, limit: int, window: int, now: float | None = None, request: Any = None
) -> Verdict:
    """The window's state without counting (read ahead for `request` when it was)."""
    now = time.time() if now is None else now
    cache_key, retry_after = _window_key(key, window, now)
    count = request_get(request, cache_key) or 0
    return Verdict(count < limit, count, limit, retry_after)


def peek_key(key: str, *, window: int, now: float | None = None) -> str:
    """The cache key `peek(key, ...)` reads now, to read it ahead with other keys."""
    return _window_key(key, window, time.time() if now is None else now)[0]


def claim_once(key: str, *, window: int, now: float | None = None) -> bool:
    """True for the first caller in `key`'s current window (one audit row per window and key)."""
    now = time.time() if now is None else now
    cache_key, _retry_after = _window_key(f"once:{key}", window, now)
    return cache.add(cache_key, 1, timeout=window + 5)


def auth_fail_key(ip: str | None) -> str:
    return f"authfail:{ip or '-'}"


def auth_failures_blocked(ip: str | None, *, request: Any = None) -> Verdict:
    return peek(
        auth_fail_key(ip),
        limit=settings.AUTH_FAIL_LIMIT,
        window=settings.AUTH_FAIL_WINDOW_SECONDS,
        request=request,
    )


def auth_failures_peek_key(ip: str | None) -> str:
    return peek_key(auth_fail_key(ip), window=settings.AUTH_FAIL_WINDOW_SECONDS)


def auth_failure_count(ip: str | None) -> Verdict:
    return hit(
        auth_fail_key(ip),
        limit=settings.AUTH_FAIL_LIMIT,
        window=settings.AUTH_FAIL_WINDOW_SECONDS,
    )
