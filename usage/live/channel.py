"""The ingest side of live updates: after a commit, nudge every worker's hub to re-read totals.

With `LIVE_REDIS` the nudge is published on our own Redis pub/sub channel (every process
and server subscribed to it hears it); without, it goes straight to the hubs of this process
(the zero-setup single worker). See NOTES.md in this package for why this part is ours and not
django-eventstream's.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import redis
from django.conf import settings
from redis.exceptions import ConnectionError as RedisConnectionError

if TYPE_CHECKING:
    from usage.live.hub import TotalsHub

logger = logging.getLogger("tokenfleet.live")

EVENT_TOTALS = "totals"  # the SSE event clients see

_local_hubs: set[TotalsHub] = set()
_local_lock = threading.Lock()


def channel_name() -> str:
    """Named after the cache prefix, so servers sharing one Redis stay apart (pub/sub is global
    to a Redis server, whatever the database number)."""
    return f"{settings.CACHE_KEY_PREFIX}:usage-totals"


def redis_configured() -> bool:
    return bool(getattr(settings, "LIVE_REDIS", None))


@lru_cache(maxsize=4)
def _client(options: tuple[tuple[str, Any], ...]) -> redis.Redis:
    return redis.Redis(**dict(options))


def redis_client() -> redis.Redis:
    """A pooled client for publishing, built from LIVE_REDIS (timeouts, no retries)."""
    return _client(tuple(sorted(settings.LIVE_REDIS.items())))


def local_hub_add(hub: TotalsHub) -> None:
    with _local_lock:
        _local_hubs.add(hub)


def local_hub_remove(hub: TotalsHub) -> None:
    with _local_lock:
        _local_hubs.discard(hub)


def change_announce() -> bool:
    """Tell every live stream that usage numbers changed. Call after commit; never raises.

    A refused or reset connection is tried once more at once: it may only have been a pooled
    connection that Redis had closed, and a Redis that is down refuses again immediately. A
    timeout is not retried; LIVE_REDIS bounds how long an unresponsive Redis can hold
    the ingest that committed.

    With Pushpin in front (GRIP_URL) no process holds a stream: this process's publisher reads
    the totals and publishes them to Pushpin (grip.py), and no nudge goes through Redis."""
    if settings.GRIP_URL:
        from usage.live.grip import grip_publisher

        grip_publisher().changed()
        return True
    if not redis_configured():
        with _local_lock:
            hubs = list(_local_hubs)
        for hub in hubs:
            hub.changed_threadsafe()
        return True
    message = json.dumps({"at": time.time()})
    for attempt in (1, 2):
        try:
            redis_client().publish(channel_name(), message)
        except Exception as exc:  # Redis down, ...: the ingest itself has succeeded
            if attempt == 1 and isinstance(exc, RedisConnectionError):
                continue
            logger.warning("live update not sent (%s: %s)", type(exc).__name__, exc)
            return False
        return True
    return False


def on_usage_changed(sender: object = None, **kwargs: Any) -> None:
    """`usage.signals.usage_changed` receiver (connected in `UsageConfig.ready`)."""
    change_announce()
