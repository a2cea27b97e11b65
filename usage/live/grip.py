"""Streams held by Pushpin (GRIP), when GRIP_URL is set: no Django worker holds a stream.

Serving side: the stream views still decide everything about a new stream (authentication,
origin, stream-per-client rules, the first `totals` frame); then, instead of streaming, they
answer at once through django-eventstream's GRIP view, which tells Pushpin to hold the
connection open on our channel (Grip-Hold: stream) and gives it a follow-up link carrying a
signed `es-meta`. Our view replaces the library's opening bytes with ours (`retry:` and the
totals), and sets Pushpin's keep-alive to our comment line every SSE_KEEPALIVE_SECONDS.

- A request that did not come through Pushpin (no valid Grip-Sig) is refused at once (421):
  under WSGI the library would fall back to its async stream, which hangs a worker thread for
  good.
- Pushpin's own follow-ups (`link=next&recover=true`, e.g. after it lost track of the channel)
  carry no Authorization header, cookie or Origin, only the `es-meta` the library signed with
  SECRET_KEY when the stream was admitted: a valid one is accepted without the checks, and
  answered with the current totals.

Publishing side: `GripPublisher`, one per process, does what hub.TotalsHub does under ASGI: on a
change it reads the totals once and publishes one `totals` event to Pushpin, at most one per
SSE_MIN_INTERVAL_MS and on the trailing edge. With Redis the interval and the "did the totals
move" check are shared by every process (a slot key and the last news), so several workers still
publish at most one event per interval between them; Pushpin fans it out, so Redis carries no
event.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable

import jwt
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.errors import error_response
from usage.live.channel import EVENT_TOTALS, redis_client, redis_configured
from usage.live.hub import KEEPALIVE_FRAME, _news, encode_event, min_interval

logger = logging.getLogger("tokenfleet.live")

GRIP_CHANNEL = "totals"  # django-eventstream's channel; Pushpin's is "events-totals"
NOT_PROXIED = (
    "Streams are served through Pushpin; this request did not come through it "
    "(check that GRIP_URL's key is Pushpin's sig_key)."
)
FAILURE_RETRY_SECONDS = 5.0
FLUSH_AT_EXIT_SECONDS = 5.0
NEWS_TTL_SECONDS = 3600


def grip_mode() -> bool:
    return bool(settings.GRIP_URL)


def _django_request(request) -> HttpRequest:
    return getattr(request, "_request", request)


def es_meta_valid(value: str) -> bool:
    """A follow-up link's `es-meta`: signed by django-eventstream with SECRET_KEY, unexpired."""
    try:
        claims = jwt.decode(
            value, settings.SECRET_KEY.encode(), algorithms=["HS256"], options={"require": ["exp"]}
        )
    except jwt.PyJWTError:
        return False
    return claims.get("iss") == "es" and claims.get("channels") == [GRIP_CHANNEL]


def stream_gate(request) -> HttpResponse | None:
    """Before authentication: 421 for a request Pushpin did not sign; the held response for
    Pushpin's follow-up; None when the view should go on and admit the stream itself."""
    django_request = _django_request(request)
    grip = getattr(django_request, "grip", None)
    if grip is None or not grip.proxied:
        return error_response(django_request, NOT_PROXIED, 421)
    if django_request.GET.get("link") == "next" and "es-meta" in django_request.GET:
        if not es_meta_valid(django_request.GET["es-meta"]):
            return error_response(django_request, "Invalid or expired stream link.", 403)
        return hold_response(request, followup=True)
    return None


def first_frame(*, retry: bool = True) -> bytes:
    """`retry:` and the current totals: what a stream starts with. A follow-up resumes with the
    totals alone: Pushpin asks for one right after it first subscribes to the channel, which
    closes the gap between our read and its subscription (an event published in between)."""
    from usage.aggregation import UsageFilter
    from usage.selectors import totals
    from usage.serializers import totals_body

    payload = totals_body(totals(UsageFilter()), at=timezone.now())
    hint = f"retry: {int(settings.SSE_RETRY_MS)}\n".encode() if retry else b""
    return hint + encode_event(EVENT_TOTALS, payload)


def hold_response(request, *, followup: bool = False) -> HttpResponse:
    """Hand the stream to Pushpin: django-eventstream's GRIP answer, with our opening bytes."""
    from django_eventstream.views import events

    django_request = _django_request(request)
    frame = first_frame(retry=not followup)
    # Our principals are not Django users: the library sees an anonymous subscriber of the one
    # public channel (its es-meta then names no user to look up on the follow-up). A copy, so
    # the request the rest of the stack sees keeps its principal; `grip` is shared with it.
    subscriber = copy.copy(django_request)
    subscriber.user = AnonymousUser()
    response = events(subscriber, channels=[GRIP_CHANNEL])
    instruct = django_request.grip.instruct  # type: ignore[attr-defined]
    if instruct is None or response.status_code != 200:
        return response  # the library's own error answer (an SSE `stream-error`)
    instruct.set_keep_alive(
        KEEPALIVE_FRAME.decode(), max(1, round(float(settings.SSE_KEEPALIVE_SECONDS)))
    )
    response.content = frame
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def totals_payload_read() -> dict:
    from django.db import connections

    from usage.aggregation import UsageFilter
    from usage.selectors import totals
    from usage.serializers import totals_body

    try:
        return totals_body(totals(UsageFilter()), at=timezone.now())
    finally:
        connections.close_all()  # the publisher's thread keeps no connection between events


def publish_totals(payload: dict) -> None:
    """One `totals` event to every stream Pushpin holds (blocking: errors surface here)."""
    from django_eventstream import send_event

    data = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    send_event(GRIP_CHANNEL, EVENT_TOTALS, data, json_encode=False, async_publish=False)


class GripPublisher:
    """Per process: coalesces change announcements into `totals` events published to Pushpin."""

    def __init__(
        self,
        *,
        compute: Callable[[], dict] = totals_payload_read,
        publish: Callable[[dict], None] = publish_totals,
        interval: float | None = None,
        use_redis: bool | None = None,
    ) -> None:
        self.compute = compute
        self.publish = publish
        self.interval = min_interval(interval)
        self.use_redis = redis_configured() if use_redis is None else use_redis
        self.published = 0
        self._cond = threading.Condition()
        self._pending = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._next_allowed = 0.0  # monotonic time before which this process does not publish
        self._last_news: str | None = None
        self._atexit = False

    def changed(self) -> None:
        with self._cond:
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="grip-publisher", daemon=True
                )
                self._thread.start()
                if not self._atexit:
                    # A management command that ingested exits right after: its event goes out.
                    atexit.register(self.flush, FLUSH_AT_EXIT_SECONDS)
                    self._atexit = True
            self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every announced change has been published (or given up on)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
            wait = self._slot_wait()
            if wait > 0:
                time.sleep(wait)
                continue
            with self._cond:
                self._pending = False  # changes from here on need another event
                self._busy = True
            try:
                self._publish_once()
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _publish_once(self) -> None:
        try:
            payload = self.compute()
        except Exception:
            logger.exception("live totals could not be computed; retrying")
            self._retry_later()
            return
        news = hashlib.sha256(_news(payload).encode()).hexdigest()
        if not self._news_moved(news):
            return  # a replayed batch, or another process published these totals already
        try:
            self.publish(payload)
        except Exception as exc:  # Pushpin away: the next change publishes fresh totals
            logger.warning("live update not published to Pushpin (%s: %s)", type(exc).__name__, exc)
            self._forget_news()
            self._retry_later()
            return
        self.published += 1
        self._slot_hold()

    def _retry_later(self) -> None:
        with self._cond:
            self._pending = True
        self._next_allowed = time.monotonic() + max(self.interval, FAILURE_RETRY_SECONDS)

    # Shared between processes through Redis when configured, else this process's own.

    def _slot_wait(self) -> float:
        """Seconds until an event may go out; 0 means this process holds the slot now."""
        now = time.monotonic()
        if now < self._next_allowed:
            return self._next_allowed - now
        self._next_allowed = now + self.interval
        if not self.use_redis or self.interval <= 0:
            return 0.0
        key = f"{settings.CACHE_KEY_PREFIX}:grip-slot"
        try:
            client = redis_client()
            if client.set(key, "1", nx=True, px=max(1, int(self.interval * 1000))):
                return 0.0
            left = client.pttl(key)
        except Exception as exc:  # Redis away: coalesce within this process only
            logger.warning("live updates: Redis slot unavailable (%s)", type(exc).__name__)
            return 0.0
        self._next_allowed = now
        return max(0.001, left / 1000.0) if left and left > 0 else 0.001

    def _slot_hold(self) -> None:
        """The interval runs from when an event went out, not from when its slot was taken:
        reading the totals takes a varying time, and two events must reach subscribers at least
        the interval apart."""
        self._next_allowed = time.monotonic() + self.interval
        if not self.use_redis or self.interval <= 0:
            return
        key = f"{settings.CACHE_KEY_PREFIX}:grip-slot"
        try:
            redis_client().set(key, "1", px=max(1, int(self.interval * 1000)))
        except Exception as exc:  # Redis away: this process still keeps its own interval
            logger.warning("live updates: Redis slot unavailable (%s)", type(exc).__name__)

    def _news_moved(self, news: str) -> bool:
        if not self.use_redis:
            moved = news != self._last_news
            self._last_news = news
            return moved
        key = f"{settings.CACHE_KEY_PREFIX}:grip-news"
        try:
            previous = redis_client().set(key, news, ex=NEWS_TTL_SECONDS, get=True)
        except Exception:
            return True
        if isinstance(previous, bytes):
            previous = previous.decode()
        return previous != news

    def _forget_news(self) -> None:
        self._last_news = None
        if self.use_redis:
            with contextlib.suppress(Exception):  # expires by itself otherwise
                redis_client().delete(f"{settings.CACHE_KEY_PREFIX}:grip-news")


_publisher: GripPublisher | None = None
_publisher_lock = threading.Lock()


def grip_publisher() -> GripPublisher:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = GripPublisher()
        return _publisher
