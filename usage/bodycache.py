"""Encoded answers of the heaviest usage reads, kept in each process while the usage data is
unchanged.

The breakdown and its CSV (2,000 groups, 1.7 MB of JSON) cost tens of milliseconds to read and
write and are the same for every caller until usage data changes. A *data version* in the Django
cache (Redis when REDIS_URL is set, so every worker, server and management command shares it)
names the state of the data: every write that can change a usage answer bumps it
(`data_version_bump`, called by `rollups.rollups_apply`, through which every change to records
and rollups goes: ingest, Codex usage, reprice). A process keeps bodies it built under the version
it read *before* reading the database, so a body never outlives the version it was built under:

- the bump runs inside the write's transaction and again after its commit. A reader that read the
  version before the commit may store a body built before or after it, under that version, which
  the post-commit bump has retired; a reader that reads the version after the post-commit bump
  reads the database after the commit.
- a version that disappears from the cache (flushed, evicted) comes back as a fresh random number,
  never as a number an old body was stored under.
- when the cache cannot be read, nothing is served from memory or stored.

Off unless USAGE_BODY_CACHE (default: on when REDIS_URL is set). Without a shared cache a write
from another process (`manage.py reprice`) could not reach this process's version, so the default
keeps it off for the single-process `make run` mode.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Hashable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

VERSION_KEY = "usage:data-version"
# Per process: bodies of the current version only, at most this many, at most this many bytes.
MAX_ENTRIES = 16
MAX_BYTES = 64 * 1024 * 1024


def _fresh_version() -> int:
    return secrets.randbits(62)


def _bump() -> None:
    try:
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # not in the cache (never set, flushed or evicted)
            cache.set(VERSION_KEY, _fresh_version(), timeout=None)
    except Exception:
        # A write never fails because of the cache; readers that cannot read it serve nothing
        # from memory either.
        logger.exception("usage body cache: could not bump the data version")
    _local.clear()


def data_version_bump() -> None:
    """Retire every cached body: now, and again once the surrounding transaction commits."""
    _bump()
    transaction.on_commit(_bump, robust=True)


def data_version() -> int | None:
    """The current data version, or None when the cache cannot be read."""
    try:
        version = cache.get(VERSION_KEY)
        if version is None:
            cache.add(VERSION_KEY, _fresh_version(), timeout=None)
            version = cache.get(VERSION_KEY)
    except Exception:
        logger.warning("usage body cache: the data version is unreadable", exc_info=True)
        return None
    return version


class _Bodies:
    """name → body for one data version; thread-safe (threaded workers share a process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._bodies: dict[Hashable, bytes] = {}
        self._bytes = 0

    def get(self, version: int, name: Hashable) -> bytes | None:
        with self._lock:
            if version != self._version:
                return None
            return self._bodies.get(name)

    def put(self, version: int, name: Hashable, body: bytes) -> None:
        with self._lock:
            if version != self._version:
                self._version, self._bodies, self._bytes = version, {}, 0
            if len(self._bodies) >= MAX_ENTRIES or self._bytes + len(body) > MAX_BYTES:
                return
            if name not in self._bodies:
                self._bodies[name] = body
                self._bytes += len(body)

    def clear(self) -> None:
        with self._lock:
            self._version, self._bodies, self._bytes = None, {}, 0


_local = _Bodies()


def cached_body(name: Hashable, build: Callable[[], bytes]) -> bytes:
    """`build()`, or the body it built for `name` under the current data version."""
    if not settings.USAGE_BODY_CACHE:
        return build()
    version = data_version()
    if version is None:
        return build()
    body = _local.get(version, name)
    if body is None:
        body = build()
        _local.put(version, name, body)
    return body
