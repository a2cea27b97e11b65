"""Fixed-window counters in the Django cache (Redis when REDIS_URL is set, shared by workers)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from core.cache import counter_incr


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


def hit(key: str, *, limit: int, window: int, now: float | None = None) -> Verdict:
    """Count one request against `key`; allowed while the window's count stays within `limit`."""
    now = time.time() if now is None else now
    cache_key, retry_after = _window_key(key, window, now)
    count = counter_incr(cache_key, timeout=window + 5)
    return Verdict(count <= limit, count, limit, retry_after)


def peek(key: str, *, limit: int, window: int, now: float | None = None) -> Verdict:
    """The window's state without counting."""
    now = time.time() if now is None else now
    cache_key, retry_after = _window_key(key, window, now)
    count = cache.get(cache_key) or 0
    return Verdict(count < limit, count, limit, retry_after)


def claim_once(key: str, *, window: int, now: float | None = None) -> bool:
    """True for the first caller in `key`'s current window (one audit row per window and key)."""
    now = time.time() if now is None else now
    cache_key, _retry_after = _window_key(f"once:{key}", window, now)
    return cache.add(cache_key, 1, timeout=window + 5)


def auth_fail_key(ip: str | None) -> str:
    return f"authfail:{ip or '-'}"


def auth_failures_blocked(ip: str | None) -> Verdict:
    return peek(
        auth_fail_key(ip),
        limit=settings.AUTH_FAIL_LIMIT,
        window=settings.AUTH_FAIL_WINDOW_SECONDS,
    )


def auth_failure_count(ip: str | None) -> Verdict:
    return hit(
        auth_fail_key(ip),
        limit=settings.AUTH_FAIL_LIMIT,
        window=settings.AUTH_FAIL_WINDOW_SECONDS,
    )
