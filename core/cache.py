"""The Django cache, as tokenfleet uses it on every request: shared connections, counters in one
round trip.

`RedisCache` is Django's Redis backend with three changes measured on the hot paths
(bench/floor.py, bench/auth.py):

- one connection pool and one `redis.Redis` per process and server. Django keeps a backend per
  async context, so under ASGI every request made a backend of its own, with a new pool, hence a
  new connection to Redis (one per `POST /auth`); and Django's client builds a new `redis.Redis`
  for every cache call (about 0.1 ms of CPU each: redis-py fills a table of response callbacks
  per instance). A `redis.Redis` is safe to share between threads: each command takes a
  connection from the pool.
- keys are not checked for memcached's limits, which Redis does not have (a loop over every
  character of every key).
- `counter_incr`: one round trip where Django's `add` + `incr` take three (SET NX, EXISTS,
  INCRBY). On other backends (the in-memory cache without REDIS_URL) it falls back to those.
"""

from __future__ import annotations

import random
import re
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_clients: dict[tuple[str, str], redis.Redis] = {}
_clients_lock = threading.Lock()


def _shared_client(server: str, options: dict[str, Any]) -> redis.Redis:
    key = (server, repr(sorted(options.items())))
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                pool = redis.ConnectionPool.from_url(server, **options)
                client = _clients[key] = redis.Redis(connection_pool=pool)
    return client


class _SharedClient(RedisCacheClient):
    """Django's client (serialisation, commands), on the process's shared connections."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._server_urls = servers
        self._connection_options = {
            key: value for key, value in options.items() if key != "serializer"
        }

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        # As Django's: write to the first server, read from the others when there are some.
        index = 0
        if not write and len(self._server_urls) > 1:
            index = random.randint(1, len(self._server_urls) - 1)  # noqa: S311
        return _shared_client(self._server_urls[index], self._connection_options)


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        servers = re.split("[;,]", server) if isinstance(server, str) else list(server)
        self._shared = _SharedClient(servers, **params.get("OPTIONS", {}))

    @property
    def _cache(self) -> _SharedClient:  # the client Django's methods call
        return self._shared

    def validate_key(self, key: str) -> None:
        return None  # Redis keys may hold any byte, at any length we use

    def counter_incr(self, key: str, *, timeout: int | None) -> int:
        """Add one to the counter `key` (created at 1) and return it; it expires `timeout`
        seconds after this increment (None: never). `get` reads it as an int."""
        key = self.make_key(key)
        client = self._shared.get_client(key, write=True)
        if timeout is None:
            return int(client.incr(key))
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(key)
        pipeline.expire(key, timeout)
        count, _expiry_set = pipeline.execute()
        return int(count)


def counter_incr(key: str, *, timeout: int | None) -> int:
    """One more in the shared counter `key`; its new value."""
    backend = getattr(cache, "counter_incr", None)
    if backend is not None:
        return int(backend(key, timeout=timeout))
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired or evicted between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def cache_shared() -> bool:
    """True when every process shares the cache (Redis). A value that another process's write
    must be able to drop (the runner's, a management command's) may only be cached then."""
    return not settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")
