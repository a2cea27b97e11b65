"""core.cache: counters in one round trip, one Redis connection pool per process."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache

from core.cache import RedisCache, counter_incr

redis_only = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")


def test_it_counts_from_one():
    assert [counter_incr("test:counter", timeout=60) for _ in range(3)] == [1, 2, 3]
    assert cache.get("test:counter") == 3


def test_it_counts_without_expiry():
    assert [counter_incr("test:forever", timeout=None) for _ in range(2)] == [1, 2]
    assert cache.get("test:forever") == 2


@redis_only
def test_it_gives_the_counter_its_expiry():
    counter_incr("test:expiring", timeout=30)

    client = cache._shared.get_client(write=True)  # type: ignore[attr-defined]
    assert 0 < client.ttl(cache.make_key("test:expiring")) <= 30


@redis_only
def test_it_shares_one_client_between_backends():
    """Django makes a backend per async context (per request under ASGI): they must not each
    open their own pool and connection."""
    params = {"KEY_PREFIX": settings.CACHE_KEY_PREFIX}
    first = RedisCache(settings.REDIS_URL, params)
    second = RedisCache(settings.REDIS_URL, params)

    assert first._cache.get_client() is second._cache.get_client()
    first.set("test:shared", "yes")
    assert second.get("test:shared") == "yes"
