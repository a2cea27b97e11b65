"""ChatGPT plan quota: `GET {CHATGPT_BASE_URL}/wham/usage` with the canonical login.

At most one fetch per 5 minutes per login (the canonical digest), unless forced: a new login
fetches at once. Every attempt is a `ChatGptUsageSnapshot`; a failure is recorded beside the
last good numbers, never over them. Windows are classified by `limit_window_seconds`, because
free plans have been seen with a single weekly window in the `primary_window` position.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from core.time import iso
from core.upstream import UpstreamError, get_json
from hosts.fleetauth import selectors as auth_selectors
from hosts.fleetauth.authjson import auth_tokens
from hosts.models import ChatGptUsageSnapshot

logger = logging.getLogger("tokenfleet.quota")

COOLDOWN = timedelta(minutes=5)
RETENTION = timedelta(days=7)
FIVE_HOUR_SECONDS = 5 * 3600
WEEKLY_SECONDS = 7 * 24 * 3600
# Anything up to a day is a short (5-hour-like) window, anything longer a weekly-like one.
SHORT_WINDOW_MAX_SECONDS = 24 * 3600
FIVE_HOUR = "five_hour"
WEEKLY = "weekly"
_CLAIM_KEY = "quota:claim:{digest}:{after}"


class QuotaError(Exception):
    """The quota cannot be fetched for a reason of ours (no access token)."""


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return int(parsed) if parsed.is_integer() else parsed
    return None


def window_kind(limit_seconds: int | float | None) -> str | None:
    if limit_seconds is None or limit_seconds <= 0:
        return None
    return FIVE_HOUR if limit_seconds <= SHORT_WINDOW_MAX_SECONDS else WEEKLY


def window_block(raw: Any, *, fetched_at: datetime, now: datetime) -> dict | None:
    """One upstream window as numbers, with the reset countdown brought up to `now`."""
    if not isinstance(raw, dict):
        return None
    limit_seconds = _number(raw.get("limit_window_seconds"))
    kind = window_kind(limit_seconds)
    if kind is None:
        return None
    reset_at = _number(raw.get("reset_at"))
    reset_after = _number(raw.get("reset_after_seconds"))
    if reset_at is None and reset_after is not None:
        reset_at = int(fetched_at.timestamp() + reset_after)
    if reset_at is not None:
        reset_after = max(0, int(reset_at - now.timestamp()))
    return {
        "kind": kind,
        "used_percent": _number(raw.get("used_percent")),
        "limit_seconds": int(limit_seconds) if limit_seconds is not None else None,
        "reset_after_seconds": reset_after,
        "reset_at": int(reset_at) if reset_at is not None else None,
        "reset_at_iso": iso(datetime.fromtimestamp(reset_at, tz=now.tzinfo))
        if reset_at is not None
        else None,
    }


def classify_windows(payload: dict, *, fetched_at: datetime, now: datetime) -> dict:
    """`{"five_hour": block|None, "weekly": block|None}` whatever positions upstream used."""
    rate_limit = payload.get("rate_limit") if isinstance(payload, dict) else None
    found: dict[str, dict | None] = {FIVE_HOUR: None, WEEKLY: None}
    if not isinstance(rate_limit, dict):
        return found
    for position in ("primary_window", "secondary_window"):
        block = window_block(rate_limit.get(position), fetched_at=fetched_at, now=now)
        if block is not None and found[block["kind"]] is None:
            found[block["kind"]] = block
    return found


def _fetch(access_token: str, account_id: str | None) -> dict:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    if account_id:
        headers["ChatGPT-Account-Id"] = account_id
    url = f"{settings.CHATGPT_BASE_URL}/wham/usage"
    return get_json(url, label="/wham/usage", headers=headers)


def _claim(digest: str, now: datetime) -> bool:
    """True when this caller should fetch for this login now.

    The cooldown is the newest attempt for the digest. Workers that see it expire at the same
    time race for a cache key named after that attempt, so exactly one of them fetches; the key
    needs no clock of its own, which keeps it right under Redis and frozen test time alike.
    """
    last = ChatGptUsageSnapshot.objects.filter(auth_digest=digest).only("pk", "fetched_at").first()
    if last is not None and now - last.fetched_at < COOLDOWN:
        return False
    key = _CLAIM_KEY.format(digest=digest, after=last.pk if last else 0)
    return cache.add(key, 1, timeout=int(COOLDOWN.total_seconds()))


def quota_refresh(*, force: bool = False) -> ChatGptUsageSnapshot | None:
    """Fetch a snapshot when this login's cooldown has passed (or `force`); else None.

    Never raises for upstream trouble: a failure becomes a snapshot with `ok=False`.
    """
    canonical = auth_selectors.canonical_current()
    if canonical is None:
        return None
    now = timezone.now()
    digest = canonical.digest
    if not force and not _claim(digest, now):
        return None
    snapshot = ChatGptUsageSnapshot(fetched_at=now, auth_digest=digest)
    try:
        access_token, account_id = auth_tokens(auth_selectors.canonical_auth_object(canonical))
        if access_token is None:
            raise QuotaError("the canonical auth.json has no tokens.access_token")
        payload = _fetch(access_token, account_id)
    except (QuotaError, UpstreamError) as exc:
        snapshot.ok = False
        snapshot.error = str(exc)[:500]
        logger.warning("chatgpt usage fetch failed: %s", snapshot.error)
    except Exception as exc:  # a quota fetch must never break the request that triggered it
        logger.exception("chatgpt usage fetch crashed")
        snapshot.ok = False
        snapshot.error = f"internal error: {type(exc).__name__}"
    else:
        snapshot.ok = True
        snapshot.payload = payload
        plan = payload.get("plan_type")
        snapshot.plan_type = plan[:50] if isinstance(plan, str) else ""
    snapshot.save()
    _prune(now)
    return snapshot


def _prune(now: datetime) -> None:
    """Drop old attempts but always keep the newest good snapshot."""
    keep = ChatGptUsageSnapshot.objects.filter(ok=True).values_list("pk", flat=True)[:1]
    ChatGptUsageSnapshot.objects.filter(fetched_at__lt=now - RETENTION).exclude(
        pk__in=list(keep)
    ).delete()


def quota_summary(*, now: datetime | None = None) -> dict:
    """The `chatgpt_usage` object: always an object, `available` says whether numbers are known."""
    now = now or timezone.now()
    latest = ChatGptUsageSnapshot.objects.first()
    good = latest if latest is not None and latest.ok else None
    if good is None and latest is not None:
        good = ChatGptUsageSnapshot.objects.filter(ok=True).first()
    canonical = auth_selectors.canonical_current()
    summary: dict[str, Any] = {
        "available": good is not None,
        "plan_type": None,
        "allowed": None,
        "limit_reached": None,
        "credits": None,
        "primary_window": None,
        "secondary_window": None,
        "fetched_at": None,
        "stale": None,
        "last_attempt_at": iso(latest.fetched_at) if latest else None,
        "last_error": latest.error if latest is not None and not latest.ok else None,
        "cooldown_seconds": int(COOLDOWN.total_seconds()),
    }
    if good is not None:
        payload: dict[str, Any] = good.payload if isinstance(good.payload, dict) else {}
        found = payload.get("rate_limit")
        rate_limit: dict[str, Any] = found if isinstance(found, dict) else {}
        windows = classify_windows(payload, fetched_at=good.fetched_at, now=now)
        credits = payload.get("credits")
        summary.update(
            plan_type=good.plan_type or None,
            allowed=rate_limit.get("allowed")
            if isinstance(rate_limit.get("allowed"), bool)
            else None,
            limit_reached=rate_limit.get("limit_reached")
            if isinstance(rate_limit.get("limit_reached"), bool)
            else None,
            credits=credits if isinstance(credits, dict) else None,
            primary_window=windows[FIVE_HOUR],
            secondary_window=windows[WEEKLY],
            fetched_at=iso(good.fetched_at),
            # Numbers of an older login (or older than the cooldown) may no longer be current.
            stale=canonical is None
            or good.auth_digest != canonical.digest
            or now - good.fetched_at > COOLDOWN,
        )
    return summary


def quota_for_request(*, force: bool = False) -> dict:
    """Refresh when due, then summarise; for `/auth` and the admin routes. Never raises."""
    try:
        quota_refresh(force=force)
    except Exception:
        logger.exception("chatgpt usage refresh failed")
    try:
        return quota_summary()
    except Exception:
        logger.exception("chatgpt usage summary failed")
        return {"available": False, "last_error": "internal error"}
