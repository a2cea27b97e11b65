"""The runner's steps, in the order a cycle runs them. Each takes `now`, does one unit of
periodic work and says how it went and when it is next due (see hosts.runner.engine)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from accounts.services import audit_prune, audit_record
from hosts import quota, versions
from hosts.fleetauth import selectors as auth_selectors
from hosts.fleetauth.refresh import services as refresh
from hosts.models import InstallerToken
from hosts.runner.engine import FAILED, OK, SKIPPED, Step, StepResult, cycles_prune

PRICES_EVERY = timedelta(days=1)
PRICES_RETRY = timedelta(hours=1)
INSTALLERS_EVERY = timedelta(minutes=10)
INSTALLERS_KEPT = timedelta(days=7)
RETENTION_EVERY = timedelta(days=1)


def auth_refresh(now: datetime) -> StepResult:
    """Refresh the canonical login when it is due (hosts.fleetauth.refresh): the server is the
    fleet's only refresher. A refused refresh token ends the login: reported, not retried."""
    outcome = refresh.canonical_refresh(now=now)
    kind = {refresh.REFRESHED: OK, refresh.RETRYING: FAILED, refresh.INVALID: FAILED}
    return StepResult(kind.get(outcome.result, SKIPPED), outcome.detail, outcome.next_check_at)


def quota_refresh(now: datetime) -> StepResult:
    """Check the canonical login against `/wham/usage` and refresh the quota snapshot, once the
    login's cooldown has passed (at once for a new login). A 401/403 marks the login invalid.

    One step, not two: checking the login *is* the quota call, and two steps would race to make
    the same call twice.
    """
    canonical = auth_selectors.canonical_current()
    if canonical is None:
        quota.quota_publish()
        return StepResult(SKIPPED, "no canonical login", now + quota.COOLDOWN)
    last = quota.ChatGptUsageSnapshot.objects.filter(auth_digest=canonical.digest).first()
    if last is not None and now - last.fetched_at < quota.COOLDOWN:
        return StepResult(
            SKIPPED, f"fetched at {last.fetched_at:%H:%M:%S}", last.fetched_at + quota.COOLDOWN
        )
    snapshot = quota.quota_fetch_store(canonical=canonical, now=now)
    canonical.refresh_from_db(fields=["invalid_at", "check_error"])
    if canonical.invalid_at is not None:
        return StepResult(FAILED, f"login invalid: {canonical.check_error}", now + quota.COOLDOWN)
    if not snapshot.ok:
        return StepResult(FAILED, snapshot.error, now + quota.COOLDOWN)
    return StepResult(OK, f"login valid, plan {snapshot.plan_type or '?'}", now + quota.COOLDOWN)


def client_version(now: datetime) -> StepResult:
    """Ask GitHub for the latest Codex release (3 h cache, 5-minute back-off on failure)."""
    succeeded, next_due = versions.client_version_refresh(now=now)
    row = versions.ClientVersionCache.objects.get(key=versions.CACHE_KEY)
    if succeeded:
        return StepResult(OK, f"latest {row.version}", next_due)
    return StepResult(FAILED, row.last_error, next_due)


def prices(now: datetime) -> StepResult:
    """`refresh_prices` from PRICING_URL, daily; an hour later again after a failure."""
    from core.errors import ApplicationError
    from usage.services import pricing as usage_services

    try:
        summary = usage_services.prices_refresh(actor="system:runner")
    except ApplicationError as exc:
        return StepResult(FAILED, exc.message, now + PRICES_RETRY)
    return StepResult(OK, summary.line("PRICING_URL"), now + PRICES_EVERY)


def installers_expire(now: datetime) -> StepResult:
    """Erase the pending key of every expired installer link; drop links a week past use."""
    with transaction.atomic():
        deleted, _ = InstallerToken.objects.filter(expires_at__lt=now - INSTALLERS_KEPT).delete()
        expired = (
            InstallerToken.objects.filter(used_at__isnull=True, expires_at__lte=now)
            .exclude(pending_key_ciphertext="")
            .update(pending_key_ciphertext="")
        )
        if expired or deleted:
            audit_record(
                action="installer.expire",
                actor="system:runner",
                meta={"expired": expired, "deleted": deleted},
            )
    outcome = OK if expired or deleted else SKIPPED
    return StepResult(outcome, f"expired {expired}, deleted {deleted}", now + INSTALLERS_EVERY)


def retention(now: datetime) -> StepResult:
    """Prune the audit log (AUDIT_RETENTION_DAYS) and old runner cycles."""
    audit = audit_prune()
    cycles = cycles_prune(now)
    return StepResult(OK, f"audit events {audit}, cycles {cycles}", now + RETENTION_EVERY)


STEPS: list[Step] = [
    # First, so the quota step then checks the fresh login.
    Step(
        "auth_refresh",
        "refresh the canonical login before Codex would (AUTH_REFRESH_AHEAD before the access "
        "token expires, or after 7 days), under the canonical lock",
        auth_refresh,
    ),
    Step(
        "quota",
        "check the canonical login against /wham/usage (401 marks it invalid) and refresh the "
        "quota snapshot (5-minute cooldown per login)",
        quota_refresh,
    ),
    Step("client_version", "latest Codex release from CODEX_RELEASES_URL (3 h)", client_version),
    Step("prices", "refresh_prices from PRICING_URL (daily)", prices),
    Step("installers", "expire installer links", installers_expire),
    Step(
        "retention", "prune the audit log by AUDIT_RETENTION_DAYS and old runner cycles", retention
    ),
]
