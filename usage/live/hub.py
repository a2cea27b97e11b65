"""The serving side of live updates: one coalescing `TotalsHub` per event loop, and the
per-stream generator that writes its frames (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections.abc import AsyncGenerator, Callable

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.utils import timezone

from usage.live import channel
from usage.live.channel import EVENT_TOTALS, channel_name, redis_configured

logger = logging.getLogger("tokenfleet.live")

KEEPALIVE_FRAME = b": keep-alive\n\n"
# A frame cached by the hub is reused for new streams this long at most, a bound on staleness
# should a notification ever be lost without the subscription noticing.
FRAME_REUSE_SECONDS = 10.0
FAILURE_RETRY_SECONDS = 5.0
RESUBSCRIBE_MIN_SECONDS = 0.5
RESUBSCRIBE_MAX_SECONDS = 5.0
# With no traffic the subscription is pinged; silence beyond the limit counts as a dead link.
PING_EVERY_SECONDS = 10.0
SILENCE_LIMIT_SECONDS = 25.0


def encode_event(event: str, payload: dict) -> bytes:
    data = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()


def totals_read() -> dict:
    """The totals payload from the database. Runs in a worker thread, which keeps no connection:
    a stream must never pin one for its lifetime."""
    from usage.aggregation import UsageFilter
    from usage.selectors import totals
    from usage.serializers import totals_body

    try:
        return totals_body(totals(UsageFilter()), at=timezone.now())
    finally:
        connections.close_all()


def min_interval(interval: float | None = None) -> float:
    """Seconds between two totals events at the least: SSE_MIN_INTERVAL_MS unless given."""
    return settings.SSE_MIN_INTERVAL_MS / 1000.0 if interval is None else max(0.0, interval)


def _news(payload: dict) -> str:
    """What makes a payload news: everything but the moment it was read."""
    return json.dumps(
        {key: value for key, value in payload.items() if key != "timestamp"},
        cls=DjangoJSONEncoder,
        sort_keys=True,
    )


class TotalsHub:
    """Per event loop: coalesces change notifications into totals frames, fans them out."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        compute: Callable[[], dict] = totals_read,
        interval: float | None = None,
        use_redis: bool | None = None,
    ) -> None:
        self.loop = loop
        self.compute = compute
        self.interval = min_interval(interval)
        self.use_redis = redis_configured() if use_redis is None else use_redis
        self.frame: bytes | None = None
        self.frame_at = 0.0
        self.frame_news: str | None = None
        self.version = 0  # bumped on every published frame
        self.published = 0
        self.subscribers = 0
        self.tick = asyncio.Event()  # replaced on every publish; setting it wakes all streams
        # Without Redis every change is announced in this process, so frames never go stale
        # unnoticed; with Redis only while the subscription is known to be alive.
        self.in_sync = not self.use_redis
        self._pending = False
        self._publishing = False
        self._timer: asyncio.TimerHandle | None = None
        self._next_allowed = 0.0  # loop time before which no frame is published
        self._snapshot: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopped = False

    # lifecycle

    def start(self) -> None:
        if self.use_redis:
            self._spawn(self._subscribe_forever())
        else:
            channel.local_hub_add(self)

    def stop(self) -> None:
        self._stopped = True
        channel.local_hub_remove(self)
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coroutine) -> asyncio.Task:
        # A context of its own: the hub outlives the request that happened to start it.
        task = self.loop.create_task(coroutine, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # coalescing publisher

    def changed_threadsafe(self) -> None:
        """`changed`, from any thread (an ingest's after-commit hook in this process)."""
        with contextlib.suppress(RuntimeError):  # loop closed: the worker is shutting down
            self.loop.call_soon_threadsafe(self.changed)

    def changed(self) -> None:
        self._pending = True
        self._schedule()

    def _schedule(self) -> None:
        if self._stopped or not self._pending or self._publishing or self._timer is not None:
            return
        delay = max(0.0, self._next_allowed - self.loop.time())
        self._timer = self.loop.call_later(delay, self._publish_start)

    def _publish_start(self) -> None:
        self._timer = None
        self._pending = False  # changes from here on need another frame
        self._publishing = True
        self._spawn(self._publish())

    async def _publish(self) -> None:
        try:
            payload = await self.loop.run_in_executor(None, self.compute)
        except Exception:
            logger.exception("live totals could not be computed; retrying")
            self._pending = True
            self._next_allowed = self.loop.time() + max(self.interval, FAILURE_RETRY_SECONDS)
        else:
            news = _news(payload)
            if news == self.frame_news:
                # Nothing moved (a replayed batch, a resubscription): no event, but the cached
                # frame is confirmed current.
                self.frame_at = self.loop.time()
            else:
                self._set_frame(encode_event(EVENT_TOTALS, payload), news)
                self.published += 1
                self._next_allowed = self.loop.time() + self.interval
        finally:
            self._publishing = False
            self._schedule()

    def _set_frame(self, frame: bytes, news: str) -> None:
        self.frame, self.frame_news = frame, news
        self.frame_at = self.loop.time()
        self.version += 1
        tick, self.tick = self.tick, asyncio.Event()
        tick.set()

    # new streams

    async def snapshot(self) -> tuple[bytes, int, str | None]:
        """A current frame for a new stream, the version it stands for, and its news.

        Reuses the last frame while it can be trusted; otherwise computes one, shared by every
        stream that connects meanwhile."""
        if (
            self.frame is not None
            and self.in_sync
            and self.loop.time() - self.frame_at < FRAME_REUSE_SECONDS
        ):
            return self.frame, self.version, self.frame_news
        version = self.version
        if self._snapshot is None:
            self._snapshot = self._spawn(self._compute_snapshot())
        frame, news = await asyncio.shield(self._snapshot)
        return frame, version, news

    async def _compute_snapshot(self) -> tuple[bytes, str]:
        try:
            version = self.version
            payload = await self.loop.run_in_executor(None, self.compute)
            frame, news = encode_event(EVENT_TOTALS, payload), _news(payload)
            if self.version == version:  # nothing newer was published meanwhile
                self.frame, self.frame_news = frame, news
                self.frame_at = self.loop.time()
            return frame, news
        finally:
            self._snapshot = None

    # Redis subscription

    async def _subscribe_forever(self) -> None:
        from redis.asyncio import Redis

        delay = RESUBSCRIBE_MIN_SECONDS
        while not self._stopped:
            # No silent reconnects inside redis-py: a lost link must surface here, because
            # whatever was published meanwhile is lost and has to be made good.
            client = Redis(**{**settings.LIVE_REDIS, "retry": None})
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(channel_name())
                self.in_sync = True
                delay = RESUBSCRIBE_MIN_SECONDS
                logger.info("live updates: subscribed to Redis")
                # Whatever was announced while we were not listening is lost: republish.
                self.changed()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "live updates: Redis subscription lost (%s: %s); resubscribing in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
            finally:
                self.in_sync = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESUBSCRIBE_MAX_SECONDS)

    async def _read(self, pubsub) -> None:
        last_heard = self.loop.time()
        while True:
            message = await pubsub.get_message(timeout=PING_EVERY_SECONDS)
            now = self.loop.time()
            if message is None:
                if now - last_heard > SILENCE_LIMIT_SECONDS:
                    raise ConnectionError("no answer from Redis")
                await pubsub.ping()
                continue
            last_heard = now
            if message.get("type") == "message":
                self.changed()  # the message is only a nudge; the totals are read afresh


_hub: TotalsHub | None = None


def current_hub() -> TotalsHub:
    """The hub of the running event loop, started on first use."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub.loop is not loop:
        if _hub is not None:
            _hub.stop()
        _hub = TotalsHub(loop)
        _hub.start()
    return _hub


async def totals_stream(hub: TotalsHub | None = None) -> AsyncGenerator[bytes, None]:
    """One client's stream: retry hint and totals on connect, then every new frame, with a
    keep-alive comment whenever nothing else was sent for SSE_KEEPALIVE_SECONDS."""
    hub = hub or current_hub()
    keepalive = float(settings.SSE_KEEPALIVE_SECONDS)
    hub.subscribers += 1
    try:
        retry = f"retry: {int(settings.SSE_RETRY_MS)}\n".encode()
        try:
            frame, seen, sent_news = await hub.snapshot()
        except Exception:
            logger.exception("live totals unavailable for a new stream")
            yield retry + b"\n"  # the client reconnects after the hint
            return
        yield retry + frame  # one frame: the hint and the first totals
        while True:
            if hub.version != seen:
                seen = hub.version
                # A frame published while this stream's snapshot was computed may say the same.
                if hub.frame_news != sent_news and hub.frame is not None:
                    sent_news = hub.frame_news
                    yield hub.frame
                continue
            try:
                await asyncio.wait_for(hub.tick.wait(), timeout=keepalive)
            except TimeoutError:
                yield KEEPALIVE_FRAME
    finally:
        hub.subscribers -= 1
