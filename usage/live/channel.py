"""The ingest side of live updates: one small `changed` event on the channel after a commit."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django_eventstream import send_event
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger("tokenfleet.live")

EVENT_TOTALS = "totals"  # the SSE event clients see
EVENT_CHANGED = "changed"  # the internal notification on the channel


def channel_name() -> str:
    """Named after the cache prefix, so servers sharing one Redis stay apart (pub/sub is global
    to a Redis server, whatever the database number)."""
    return f"{settings.CACHE_KEY_PREFIX}:usage-totals"


def redis_configured() -> bool:
    return bool(getattr(settings, "EVENTSTREAM_REDIS", None))


def change_announce() -> bool:
    """Tell every live stream that usage numbers changed. Call after commit; never raises.

    A refused or reset connection is tried once more at once: it may only have been a pooled
    connection that Redis had closed, and a Redis that is down refuses again immediately. A
    timeout is not retried; EVENTSTREAM_REDIS bounds how long an unresponsive Redis can hold
    the ingest that committed."""
    for attempt in (1, 2):
        try:
            send_event(channel_name(), EVENT_CHANGED, {"at": time.time()})
        except Exception as exc:  # Redis down, loop closed, ...: the ingest itself has succeeded
            if attempt == 1 and isinstance(exc, RedisConnectionError):
                continue
            logger.warning("live update not sent (%s: %s)", type(exc).__name__, exc)
            return False
        return True
    return False


def on_usage_changed(sender=None, **kwargs) -> None:
    """`usage.signals.usage_changed` receiver (connected in `UsageConfig.ready`)."""
    change_announce()
