"""Reads of the single refresher: when the canonical login is due, and how fresh it is.

The login is due for a refresh once its access token's JWT `exp` is less than
`AUTH_REFRESH_AHEAD` seconds away, or its `last_refresh` is older than seven days (Codex itself
refreshes after eight, or once `exp` has passed, so the server always goes first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from hosts.fleetauth.authjson import datetime_from_ns
from hosts.models import CanonicalAuth

MAX_AGE = timedelta(days=7)

# Who made the current login (`CanonicalAuth.source`, as the dashboard names it).
REFRESHED_BY = {"runner": "server", "host": "host", "admin": "admin"}
# refresh_state
SCHEDULED = "scheduled"  # fresh; the server refreshes it at `refresh_due_at`
DUE = "due"  # the runner refreshes it at its next cycle
RETRYING = "retrying"  # the last attempt failed for a passing reason; retried at `retry_at`
FAILED = "failed"  # the refresh token is spent or revoked: nothing retries, log in again

ACTION_LOG_IN_AGAIN = (
    "Run `codex login` on one machine, then upload its ~/.codex/auth.json with "
    "POST /admin/auth/upload (or run cdx there: a newer login of the same account is stored). "
    "The server refreshes the new login from then on."
)
ACTION_RETRYING = (
    "Nothing yet: the server retries with back-off. If the access token expires first, check "
    "that the server reaches CODEX_OAUTH_TOKEN_URL."
)


def refresh_due_at(*, access_expires_at: datetime | None, last_refresh_ns: int) -> datetime:
    """When the login becomes due: AUTH_REFRESH_AHEAD before `exp`, or seven days after
    `last_refresh`, whichever comes first."""
    due = datetime_from_ns(last_refresh_ns) + MAX_AGE
    if access_expires_at is not None:
        due = min(due, access_expires_at - timedelta(seconds=settings.AUTH_REFRESH_AHEAD))
    return due


@dataclass(frozen=True)
class LoginFreshness:
    """The canonical login's freshness, for /admin/overview, /admin/runner and the dashboard."""

    digest: str
    last_refresh: str  # the RFC 3339 text as stored
    last_refresh_at: datetime
    refreshed_by: str  # server | host | admin
    refreshed_by_host: str | None  # the FQDN when a host stored it (and still exists)
    access_expires_at: datetime | None
    access_expires_in_seconds: int | None  # negative once expired
    refresh_due_at: datetime
    refresh_state: str  # scheduled | due | retrying | failed
    refresh_attempts: int  # failed attempts in a row (this login)
    refresh_retry_at: datetime | None
    refresh_error: str | None
    refresh_failed_at: datetime | None
    action: str | None  # what the operator should do, when anything


def login_freshness(
    canonical: CanonicalAuth | None = None, *, now: datetime | None = None
) -> LoginFreshness | None:
    """The current login's freshness (None without one). One query, no decryption."""
    now = now or timezone.now()
    if canonical is None:
        canonical = (
            CanonicalAuth.objects.filter(is_current=True).select_related("source_host").first()
        )
    if canonical is None:
        return None
    due_at = refresh_due_at(
        access_expires_at=canonical.access_expires_at, last_refresh_ns=canonical.last_refresh_ns
    )
    if canonical.refresh_failed_at is not None:
        state, action = FAILED, ACTION_LOG_IN_AGAIN
    elif canonical.refresh_attempts:
        state, action = RETRYING, ACTION_RETRYING
    else:
        state, action = (DUE if now >= due_at else SCHEDULED), None
    expires = canonical.access_expires_at
    host = canonical.source_host if canonical.source_host_id else None
    return LoginFreshness(
        digest=canonical.digest,
        last_refresh=canonical.last_refresh,
        last_refresh_at=datetime_from_ns(canonical.last_refresh_ns),
        refreshed_by=REFRESHED_BY.get(canonical.source, canonical.source),
        refreshed_by_host=host.fqdn if host is not None and canonical.source == "host" else None,
        access_expires_at=expires,
        access_expires_in_seconds=None if expires is None else int((expires - now).total_seconds()),
        refresh_due_at=due_at,
        refresh_state=state,
        refresh_attempts=canonical.refresh_attempts,
        refresh_retry_at=canonical.refresh_retry_at,
        refresh_error=canonical.refresh_error or None,
        refresh_failed_at=canonical.refresh_failed_at,
        action=action,
    )
