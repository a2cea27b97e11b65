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
from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer
from django.core.exceptions import ImproperlyConfigured

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
        self._connection_options = options

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        # As Django's: write to the first server, read from the others when there are some.
        index = 0
        if not write and len(self._server_urls) > 1:
            index = random.randint(1, len(self._server_urls) - 1)  # noqa: S311
        return _shared_client(self._server_urls[index], self._connection_options)


# KEYS: the flag, the snapshot, the counter, then one key per operation; ARGV: the counter's
# limit, then per operation "get", "incr" (no expiry) or the counter's expiry in seconds.
_GUARDED_ROUND = """
local flag = redis.call('GET', KEYS[1])
local snapshot = redis.call('GET', KEYS[2])
local counter = redis.call('GET', KEYS[3])
local count = tonumber(counter or '0')
if flag ~= '0' or not snapshot or count == nil or count >= tonumber(ARGV[1]) then
  return {0, snapshot, counter}
end
local out = {1, snapshot, counter}
for i = 4, #KEYS do
  local op = ARGV[i - 2]
  if op == 'get' then
    out[#out + 1] = redis.call('GET', KEYS[i])
  else
    out[#out + 1] = redis.call('INCR', KEYS[i])
    if op ~= 'incr' then
      redis.call('EXPIRE', KEYS[i], tonumber(op))
    end
  end
end
return out
"""


class GuardedRound:
    """`CacheRound`'s operations run only if, in the same atomic step, the flag key holds 0,
    the snapshot key exists and the counter key is below `limit`; the snapshot and the counter
    are read either way. On Redis one Lua script (EVALSHA): one round trip for what took two."""

    def __init__(self, *, flag: str, snapshot: str, counter: str, limit: int) -> None:
        self.flag, self.snapshot, self.counter, self.limit = flag, snapshot, counter, limit


# The script once per shared client (a backend may be made per request: see RedisCache).
_scripts: dict[int, Any] = {}


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        servers = re.split("[;,]", server) if isinstance(server, str) else list(server)
        options = params.get("OPTIONS", {})
        if "serializer" in options:
            raise ImproperlyConfigured("core.cache.RedisCache keeps Django's default serializer.")
        self._shared = _SharedClient(servers, **options)
        self._serializer = RedisSerializer()

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

    def round_run(self, ops: list[tuple[str, str, int | None]]) -> list[Any]:
        """`CacheRound`'s operations in one pipeline: counters' new values, reads' values."""
        client = self._shared.get_client(write=True)
        pipeline = client.pipeline(transaction=False)
        for kind, key, timeout in ops:
            full_key = self.make_key(key)
            if kind == "get":
                pipeline.get(full_key)
                continue
            pipeline.incr(full_key)
            if timeout is not None:
                pipeline.expire(full_key, timeout)
        replies = iter(pipeline.execute())
        results: list[Any] = []
        for kind, _key, timeout in ops:
            reply = next(replies)
            if kind == "get":
                results.append(None if reply is None else self._serializer.loads(reply))
                continue
            results.append(int(reply))
            if timeout is not None:
                next(replies)  # the expiry's reply
        return results

    def guarded_round_run(
        self, guard: GuardedRound, ops: list[tuple[str, str, int | None]]
    ) -> tuple[Any, Any, list[Any] | None]:
        """`GuardedRound` in one EVALSHA (the script is loaded once per server)."""
        client = self._shared.get_client(write=True)
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts[id(client)] = client.register_script(_GUARDED_ROUND)
        keys = [self.make_key(key) for key in (guard.flag, guard.snapshot, guard.counter)]
        keys += [self.make_key(key) for _kind, key, _timeout in ops]
        args: list[Any] = [guard.limit]
        args += [
            "get" if kind == "get" else "incr" if timeout is None else timeout
            for kind, _key, timeout in ops
        ]
        ran, snapshot, counter, *replies = script(keys=keys, args=args, client=client)
        loads = self._serializer.loads
        snapshot = None if snapshot is None else loads(snapshot)
        counter = None if counter is None else loads(counter)
        if not ran:
            return snapshot, counter, None
        results = [
            (None if reply is None else loads(reply)) if kind == "get" else int(reply)
            for (kind, _key, _timeout), reply in zip(ops, replies, strict=True)
        ]
        return snapshot, counter, results


def guarded_round_supported() -> bool:
    return getattr(cache, "guarded_round_run", None) is not None


def guarded_round_run(
    guard: GuardedRound, ops: list[tuple[str, str, int | None]]
) -> tuple[Any, Any, list[Any] | None]:
    """The snapshot's and the counter's values (None: missing), and the operations' results
    (as `CacheRound.run` answers them), or None when the guard did not let them run."""
    found: tuple[Any, Any, list[Any] | None] = cache.guarded_round_run(  # type: ignore[attr-defined]
        guard, ops
    )
    return found


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


# --- One round trip for what a request reads and counts in the cache.
#
# A host call read the kill switch snapshot, its IP's failed-authentication count, counted the
# call, its rate-limit window and read this month's usage: five round trips to Redis. The reads
# that can be known before the key is checked go together (`read_ahead`), the counts and reads
# that need the host go together (`CacheRound`): two.

_MISSING = object()


def _memo(request: Any) -> dict[str, Any]:
    django_request = getattr(request, "_request", request)  # DRF's Request wraps Django's
    memo: dict[str, Any] | None = getattr(django_request, "_cache_read_ahead", None)
    if memo is None:
        memo = {}
        django_request._cache_read_ahead = memo
    return memo


def read_ahead(request: Any, keys: list[str]) -> None:
    """Read `keys` now, in one round trip; `request_get` answers each of them once from it."""
    found = cache.get_many(keys)
    read_ahead_store(request, {key: found.get(key) for key in keys})


def read_ahead_store(request: Any, values: dict[str, Any]) -> None:
    """Values just read from the cache (None: missing) for `request_get` to answer once."""
    _memo(request).update(
        {key: _MISSING if value is None else value for key, value in values.items()}
    )


def request_get(request: Any, key: str, default: Any = None) -> Any:
    """`cache.get(key)`, answered from what was read ahead for this request (once) if it was."""
    if request is not None:
        value = _memo(request).pop(key, None)
        if value is not None:
            return default if value is _MISSING else value
    return cache.get(key, default)


class CacheRound:
    """Counters and reads sent to the cache together: one pipeline on Redis, one call each on
    other backends. Add the operations, then `run()`: their results, in order."""

    def __init__(self) -> None:
        self._ops: list[tuple[str, str, int | None]] = []

    def counter_incr(self, key: str, *, timeout: int | None) -> None:
        self._ops.append(("incr", key, timeout))

    def get(self, key: str) -> None:
        self._ops.append(("get", key, None))

    @property
    def ops(self) -> list[tuple[str, str, int | None]]:
        return list(self._ops)

    def run(self) -> list[Any]:
        backend = getattr(cache, "round_run", None)
        if backend is not None:
            return list(backend(self._ops))
        return [
            counter_incr(key, timeout=timeout) if kind == "incr" else cache.get(key)
            for kind, key, timeout in self._ops
        ]
