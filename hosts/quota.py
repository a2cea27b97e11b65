"""ChatGPT plan quota: `GET {CHATGPT_BASE_URL}/wham/usage` with the canonical login.

Only the runner fetches (its `quota` step, which is also the login check): at most once per 5
minutes per login (the canonical digest) unless forced, and at once for a new login. Every
attempt is a `ChatGptUsageSnapshot`; a failure is recorded beside the last good numbers, never
over them, and a 401/403 marks the login invalid. The outcome is published as one
`FleetSetting`, which requests read with the kill switch in a single query: no request waits on
this upstream; one that finds the numbers due only asks the runner for a refresh. Windows are
classified by `limit_window_seconds`, because free plans have been seen with a single weekly
window in the `primary_window` position.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.time import iso, parse_iso
from core.upstream import UpstreamError, get_json
from hosts import selectors
from hosts.fleetauth import selectors as auth_selectors
from hosts.fleetauth.authjson import auth_tokens
from hosts.models import CanonicalAuth, ChatGptUsageSnapshot
from hosts.services import fleet_setting_put

logger = logging.getLogger("tokenfleet.quota")

COOLDOWN = timedelta(minutes=5)
RETENTION = timedelta(days=7)
FIVE_HOUR_SECONDS = 5 * 3600
WEEKLY_SECONDS = 7 * 24 * 3600
# Anything up to a day is a short (5-hour-like) window, anything longer a weekly-like one.
SHORT_WINDOW_MAX_SECONDS = 24 * 3600
FIVE_HOUR = "five_hour"
WEEKLY = "weekly"


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


@dataclass(frozen=True)
class QuotaWindow:
    """One quota window as numbers, its reset countdown brought up to the time it was read."""

    kind: str  # five_hour | weekly
    used_percent: int | float | None
    limit_seconds: int | None
    reset_after_seconds: int | float | None
    reset_at: int | None  # epoch seconds

    @property
    def reset_time(self) -> datetime | None:
        return None if self.reset_at is None else datetime.fromtimestamp(self.reset_at, tz=UTC)


def window_block(raw: Any, *, fetched_at: datetime, now: datetime) -> QuotaWindow | None:
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
    return QuotaWindow(
        kind=kind,
        used_percent=_number(raw.get("used_percent")),
        limit_seconds=int(limit_seconds) if limit_seconds is not None else None,
        reset_after_seconds=reset_after,
        reset_at=int(reset_at) if reset_at is not None else None,
    )


def classify_windows(
    payload: dict, *, fetched_at: datetime, now: datetime
) -> dict[str, QuotaWindow | None]:
    """`{"five_hour": window|None, "weekly": window|None}` whatever positions upstream used."""
    rate_limit = payload.get("rate_limit") if isinstance(payload, dict) else None
    found: dict[str, QuotaWindow | None] = {FIVE_HOUR: None, WEEKLY: None}
    if not isinstance(rate_limit, dict):
        return found
    for position in ("primary_window", "secondary_window"):
        block = window_block(rate_limit.get(position), fetched_at=fetched_at, now=now)
        if block is not None and found[block.kind] is None:
            found[block.kind] = block
    return found


def _fetch(access_token: str, account_id: str | None) -> dict:
    headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
    if account_id:
        headers["ChatGPT-Account-Id"] = account_id
    url = f"{settings.CHATGPT_BASE_URL}/wham/usage"
    body: dict = get_json(url, label="/wham/usage", headers=headers)
    return body


INVALID_STATUSES = frozenset({401, 403})

# chatgpt_usage.status
STATUS_OK = "ok"  # numbers of the current login, younger than the cooldown
STATUS_STALE = "stale"  # numbers of an earlier login or older than the cooldown; refresh asked
STATUS_ERROR = "error"  # the current login's latest attempt failed (numbers: the last good ones)
STATUS_UNAVAILABLE = "unavailable"  # no login, or no numbers were ever fetched


def quota_fetch_store(*, canonical: CanonicalAuth, now: datetime | None = None):
    """Fetch `/wham/usage` for `canonical` now, record the attempt, the login's validity and
    the published state. Never raises for upstream trouble."""
    now = now or timezone.now()
    snapshot = ChatGptUsageSnapshot(fetched_at=now, auth_digest=canonical.digest)
    status = None
    try:
        access_token, account_id = auth_tokens(auth_selectors.canonical_auth_object(canonical))
        if access_token is None:
            raise QuotaError("the canonical auth.json has no tokens.access_token")
        payload = _fetch(access_token, account_id)
    except (QuotaError, UpstreamError) as exc:
        snapshot.ok = False
        snapshot.error = str(exc)[:500]
        status = getattr(exc, "status", None)
        logger.warning("chatgpt usage fetch failed: %s", snapshot.error)
    except Exception as exc:  # a runner step reports it; the loop goes on
        logger.exception("chatgpt usage fetch crashed")
        snapshot.ok = False
        snapshot.error = f"internal error: {type(exc).__name__}"
    else:
        snapshot.ok = True
        snapshot.payload = payload
        plan = payload.get("plan_type")
        snapshot.plan_type = plan[:50] if isinstance(plan, str) else ""
    snapshot.save()
    check: dict[str, Any] = {"checked_at": now}
    if snapshot.ok:
        check.update(invalid_at=None, check_error="")
    elif status in INVALID_STATUSES:
        check.update(invalid_at=now, check_error=snapshot.error)
    else:
        # Upstream trouble says nothing about the login: keep its verdict, note the error.
        check.update(check_error=snapshot.error)
    CanonicalAuth.objects.filter(pk=canonical.pk).update(**check)
    quota_publish()
    _prune(now)
    return snapshot


def quota_publish() -> dict:
    """Store the latest attempt and the latest good numbers for requests to read."""
    latest = ChatGptUsageSnapshot.objects.first()
    good = latest if latest is not None and latest.ok else None
    if good is None and latest is not None:
        good = ChatGptUsageSnapshot.objects.filter(ok=True).first()
    state = {
        "attempt_at": iso(latest.fetched_at) if latest else None,
        "attempt_digest": latest.auth_digest if latest else None,
        "attempt_ok": bool(latest and latest.ok),
        "attempt_error": latest.error if latest is not None and not latest.ok else None,
        "good": None
        if good is None
        else {
            "fetched_at": iso(good.fetched_at),
            "digest": good.auth_digest,
            "plan_type": good.plan_type,
            "payload": good.payload if isinstance(good.payload, dict) else {},
        },
    }
    fleet_setting_put(key=selectors.QUOTA_STATE, value=state)
    return state


def _prune(now: datetime) -> None:
    """Drop old attempts but always keep the newest good snapshot."""
    keep = ChatGptUsageSnapshot.objects.filter(ok=True).values_list("pk", flat=True)[:1]
    ChatGptUsageSnapshot.objects.filter(fetched_at__lt=now - RETENTION).exclude(
        pk__in=list(keep)
    ).delete()


def _attempt_for(state: dict | None, digest: str | None) -> datetime | None:
    """When the current login was last tried, from the published state."""
    if not state or digest is None or state.get("attempt_digest") != digest:
        return None
    return parse_iso(state.get("attempt_at") or "")


def quota_next_fetch_at(
    *, state: dict | None, canonical_digest: str | None, now: datetime
) -> datetime | None:
    """When the current login may be fetched again (now, for a login never tried); None
    without a login."""
    if canonical_digest is None:
        return None
    attempt = _attempt_for(state, canonical_digest)
    return now if attempt is None else max(now, attempt + COOLDOWN)


@dataclass(frozen=True)
class QuotaStatus:
    """What `/auth`, `/admin/overview` and the dashboard show of the quota: the stored numbers
    and how far to trust them (`status`), never fetched on the request."""

    status: str  # ok | stale | error | unavailable
    available: bool  # good numbers exist (of any login)
    cooldown_seconds: int
    next_eligible_at: datetime | None  # when the current login may be fetched again
    last_attempt_at: datetime | None
    last_error: str | None
    plan_type: str | None = None
    allowed: bool | None = None
    limit_reached: bool | None = None
    credits: dict[str, Any] | None = None
    primary_window: QuotaWindow | None = None  # the 5-hour window, wherever upstream put it
    secondary_window: QuotaWindow | None = None  # the weekly window
    fetched_at: datetime | None = None
    stale: bool | None = None
    # The summary itself crashed: only `status`, `available` and `last_error` are meaningful.
    summary_failed: bool = False


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def quota_summary(
    *, state: dict | None, canonical_digest: str | None, now: datetime | None = None
) -> QuotaStatus:
    """The quota from the published state; `status` says how far to trust the numbers,
    `next_eligible_at` when the cooldown ends."""
    now = now or timezone.now()
    state = state or {}
    good = state.get("good") if isinstance(state.get("good"), dict) else None
    attempt = _attempt_for(state, canonical_digest)
    numbers: dict[str, Any] = {}
    stale = True
    if good is not None:
        fetched_at = parse_iso(good.get("fetched_at") or "") or now
        found_payload = good.get("payload")
        payload: dict[str, Any] = found_payload if isinstance(found_payload, dict) else {}
        found_limit = payload.get("rate_limit")
        rate_limit: dict[str, Any] = found_limit if isinstance(found_limit, dict) else {}
        windows = classify_windows(payload, fetched_at=fetched_at, now=now)
        credits = payload.get("credits")
        # Numbers of an older login (or older than the cooldown) may no longer be current.
        stale = (
            canonical_digest is None
            or good.get("digest") != canonical_digest
            or now - fetched_at > COOLDOWN
        )
        numbers = {
            "plan_type": good.get("plan_type") or None,
            "allowed": _flag(rate_limit.get("allowed")),
            "limit_reached": _flag(rate_limit.get("limit_reached")),
            "credits": credits if isinstance(credits, dict) else None,
            "primary_window": windows[FIVE_HOUR],
            "secondary_window": windows[WEEKLY],
            "fetched_at": fetched_at,
            "stale": stale,
        }
    if canonical_digest is None:
        status = STATUS_UNAVAILABLE
    elif attempt is not None and not state.get("attempt_ok"):
        status = STATUS_ERROR
    elif good is None:
        status = STATUS_UNAVAILABLE
    else:
        status = STATUS_STALE if stale else STATUS_OK
    return QuotaStatus(
        status=status,
        available=good is not None,
        cooldown_seconds=int(COOLDOWN.total_seconds()),
        next_eligible_at=quota_next_fetch_at(
            state=state, canonical_digest=canonical_digest, now=now
        ),
        last_attempt_at=parse_iso(state.get("attempt_at") or ""),
        last_error=state.get("attempt_error"),
        **numbers,
    )


def quota_due(*, state: dict | None, canonical_digest: str | None, now: datetime) -> bool:
    next_at = quota_next_fetch_at(state=state, canonical_digest=canonical_digest, now=now)
    return next_at is not None and next_at <= now


def quota_for_request(*, state: dict | None, canonical_digest: str | None) -> QuotaStatus:
    """The stored summary; asks the runner for a fetch when one is due. Never waits or raises."""
    from hosts.runner.engine import step_request

    now = timezone.now()
    try:
        if quota_due(state=state, canonical_digest=canonical_digest, now=now):
            step_request("quota", now=now)
    except Exception:
        logger.exception("could not ask the runner for a quota refresh")
    try:
        return quota_summary(state=state, canonical_digest=canonical_digest, now=now)
    except Exception:
        logger.exception("chatgpt usage summary failed")
        return QuotaStatus(
            status=STATUS_UNAVAILABLE,
            available=False,
            cooldown_seconds=int(COOLDOWN.total_seconds()),
            next_eligible_at=None,
            last_attempt_at=None,
            last_error="internal error",
            summary_failed=True,
        )
