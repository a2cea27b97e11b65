"""The single refresher: the runner refreshes the canonical login before Codex would.

Read, refresh and store run in one transaction under the canonical lock, the row that every
host store and admin upload locks first (`canonical_lock`). So only one refresh runs at a time,
across runners and servers, and no store can land between the read and the write: the refresh
token spent is always the canonical one. A host store arriving meanwhile waits (at most
UPSTREAM_TIMEOUT_SECONDS, about once per token lifetime) and is then judged against the
refreshed login by the usual rule, newer wins; a host's newer login, once stored, is what the
next refresh reads and spends.

The new version keeps the stored document as it was (key order, unknown keys) apart from the
tokens the answer renewed, an `auths` entry that carried the old access token, and
`last_refresh`. Audit events and logs name digests and times, never a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from core.time import iso
from hosts.fleetauth.authjson import (
    AuthJsonError,
    jwt_expiry,
    normalise_auth,
    ns_from_datetime,
    rfc3339_from_ns,
)
from hosts.fleetauth.refresh.oauth import RefreshedTokens, RefreshFailed, oauth_refresh
from hosts.fleetauth.refresh.selectors import refresh_due_at
from hosts.fleetauth.selectors import canonical_auth_object, canonical_current
from hosts.fleetauth.services import REFRESHER_SOURCE, canonical_auth_install, canonical_lock
from hosts.models import CanonicalAuth

logger = logging.getLogger("tokenfleet.auth_refresh")

ACTOR = "system:runner"

# Looked at again at least this often (a login stored meanwhile also asks for a run at once).
CHECK_EVERY = timedelta(minutes=15)
INVALID_CHECK_EVERY = timedelta(hours=1)
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(minutes=30)

# RefreshOutcome.result
REFRESHED = "refreshed"
NOT_DUE = "not_due"
SKIPPED = "skipped"  # nothing to refresh (no login, an API-key login), or backing off
RETRYING = "retrying"  # this attempt failed for a passing reason
INVALID = "invalid"  # the login cannot be refreshed any more


@dataclass(frozen=True)
class RefreshOutcome:
    result: str
    detail: str
    next_check_at: datetime


@dataclass(frozen=True)
class _Due:
    canonical: CanonicalAuth
    auth: dict[str, Any]
    refresh_token: str
    reason: str


def _access_expiry(auth: dict[str, Any]) -> datetime | None:
    tokens = auth.get("tokens")
    exp = jwt_expiry(tokens.get("access_token")) if isinstance(tokens, dict) else None
    return None if exp is None else datetime.fromtimestamp(exp, tz=UTC)


def _examine(now: datetime) -> RefreshOutcome | _Due:
    """What the current login needs now: a refresh (`_Due`), or nothing yet (an outcome)."""
    canonical = canonical_current()
    if canonical is None:
        return RefreshOutcome(SKIPPED, "no canonical login", now + CHECK_EVERY)
    if canonical.refresh_failed_at is not None:
        return RefreshOutcome(
            INVALID,
            f"login invalid: {canonical.refresh_error}; upload a fresh auth.json",
            now + INVALID_CHECK_EVERY,
        )
    auth = canonical_auth_object(canonical)
    tokens = auth.get("tokens")
    refresh_token = tokens.get("refresh_token") if isinstance(tokens, dict) else None
    if not isinstance(refresh_token, str) or not refresh_token:
        return RefreshOutcome(
            SKIPPED, "the login has no refresh token (an API-key login)", now + CHECK_EVERY
        )
    expires_at = _access_expiry(auth)
    if expires_at != canonical.access_expires_at:  # a row stored before the field existed
        CanonicalAuth.objects.filter(pk=canonical.pk).update(access_expires_at=expires_at)
        canonical.access_expires_at = expires_at
    due_at = refresh_due_at(access_expires_at=expires_at, last_refresh_ns=canonical.last_refresh_ns)
    if now < due_at:
        return RefreshOutcome(
            NOT_DUE, f"not due: refresh at {iso(due_at)}", min(due_at, now + CHECK_EVERY)
        )
    retry_at = canonical.refresh_retry_at
    if retry_at is not None and now < retry_at:
        return RefreshOutcome(SKIPPED, f"backing off until {iso(retry_at)}", retry_at)
    ahead = timedelta(seconds=settings.AUTH_REFRESH_AHEAD)
    if expires_at is not None and now >= expires_at - ahead:
        reason = f"access token expires at {iso(expires_at)}"
    else:
        reason = f"last refresh {canonical.last_refresh} is older than 7 days"
    return _Due(canonical=canonical, auth=auth, refresh_token=refresh_token, reason=reason)


def refreshed_auth(
    auth: dict[str, Any], tokens: RefreshedTokens, *, last_refresh: str
) -> dict[str, Any]:
    """`auth` with the renewed tokens and `last_refresh`; every other key as it was, in order.
    An `auths` entry that carried the old access token carries the new one."""
    found = auth.get("tokens")
    old_tokens: dict[str, Any] = found if isinstance(found, dict) else {}
    new_tokens = dict(old_tokens)
    for name in ("id_token", "access_token", "refresh_token"):
        value = getattr(tokens, name)
        if value is not None:
            new_tokens[name] = value
    result = dict(auth)
    result["tokens"] = new_tokens
    old_access = old_tokens.get("access_token")
    auths = result.get("auths")
    if tokens.access_token is not None and old_access and isinstance(auths, dict):
        result["auths"] = {
            name: {**entry, "token": tokens.access_token}
            if isinstance(entry, dict) and entry.get("token") == old_access
            else entry
            for name, entry in auths.items()
        }
    result["last_refresh"] = last_refresh
    return result


def _failure_record(canonical: CanonicalAuth, exc: RefreshFailed, now: datetime) -> RefreshOutcome:
    """A refusal ends the login (nothing retries it); anything else backs off."""
    meta: dict[str, Any] = {
        "digest": canonical.digest,
        "last_refresh": canonical.last_refresh,
        "permanent": exc.permanent,
        "status": exc.status,
        "code": exc.code,
        "error": exc.message,
    }
    if exc.permanent:
        CanonicalAuth.objects.filter(pk=canonical.pk).update(
            refresh_failed_at=now, refresh_error=exc.message[:500], refresh_retry_at=None
        )
        audit_record(action="auth.refresh_failed", actor=ACTOR, meta=meta)
        logger.warning("the canonical login cannot be refreshed: %s", exc.message)
        return RefreshOutcome(
            INVALID,
            f"login invalid: {exc.message}; upload a fresh auth.json",
            now + INVALID_CHECK_EVERY,
        )
    attempts = canonical.refresh_attempts + 1
    delay = min(BACKOFF_FIRST * 2 ** min(attempts - 1, 10), BACKOFF_MAX)
    if exc.retry_after_seconds:
        delay = max(delay, min(timedelta(seconds=exc.retry_after_seconds), BACKOFF_MAX))
    retry_at = now + delay
    CanonicalAuth.objects.filter(pk=canonical.pk).update(
        refresh_attempts=attempts, refresh_retry_at=retry_at, refresh_error=exc.message[:500]
    )
    meta.update(attempts=attempts, retry_at=iso(retry_at))
    audit_record(action="auth.refresh_failed", actor=ACTOR, meta=meta)
    logger.warning("canonical login refresh failed (attempt %d): %s", attempts, exc.message)
    return RefreshOutcome(
        RETRYING,
        f"refresh failed (attempt {attempts}): {exc.message}; retry at {iso(retry_at)}",
        retry_at,
    )


def _refresh_locked(due: _Due, now: datetime) -> RefreshOutcome:
    canonical = due.canonical
    try:
        tokens = oauth_refresh(due.refresh_token)
        # Newer than the current login even when the clocks agree to the nanosecond.
        now_ns = max(ns_from_datetime(now), canonical.last_refresh_ns + 1)
        auth, last_refresh = normalise_auth(
            refreshed_auth(due.auth, tokens, last_refresh=rfc3339_from_ns(now_ns)), now_ns=now_ns
        )
    except AuthJsonError as exc:
        failure = RefreshFailed(
            f"the refreshed login was refused: {exc.field}: {exc.message}", permanent=False
        )
        return _failure_record(canonical, failure, now)
    except RefreshFailed as exc:
        return _failure_record(canonical, exc, now)
    installed = canonical_auth_install(
        auth=auth, last_refresh=last_refresh, source=REFRESHER_SOURCE, source_host=None
    )
    audit_record(
        action="auth.refresh",
        actor=ACTOR,
        meta={
            "digest": installed.digest,
            "last_refresh": installed.last_refresh,
            "previous_digest": canonical.digest,
            "previous_last_refresh": canonical.last_refresh,
            "access_expires_at": iso(installed.access_expires_at),
            "reason": due.reason,
            "failed_attempts": canonical.refresh_attempts,
        },
    )
    logger.info(
        "refreshed the canonical login (%s): digest %s, access token until %s",
        due.reason,
        installed.digest[:12],
        iso(installed.access_expires_at),
    )
    expires = installed.access_expires_at
    until = f"; access token valid until {iso(expires)}" if expires else ""
    due_at = refresh_due_at(access_expires_at=expires, last_refresh_ns=installed.last_refresh_ns)
    return RefreshOutcome(
        REFRESHED, f"refreshed ({due.reason}){until}", min(due_at, now + CHECK_EVERY)
    )


def canonical_refresh(*, now: datetime | None = None) -> RefreshOutcome:
    """Refresh the canonical login when it is due (the runner's `auth_refresh` step)."""
    now = now or timezone.now()
    found = _examine(now)  # without the lock: the common answer is "not due"
    if isinstance(found, RefreshOutcome):
        return found
    with transaction.atomic():
        canonical_lock()
        found = _examine(now)  # again: another runner or a host store may have moved it on
        if isinstance(found, RefreshOutcome):
            return found
        return _refresh_locked(found, now)
