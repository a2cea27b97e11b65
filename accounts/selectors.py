"""Reads for accounts."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from accounts.models import ApiToken, AuditEvent

AUDIT_LIMIT_DEFAULT = 100
AUDIT_LIMIT_MAX = 1000


def token_list() -> QuerySet[ApiToken]:
    return ApiToken.objects.order_by("-created_at", "-id")


def audit_since(*, since: datetime | None, limit: int) -> list[AuditEvent]:
    """Oldest first from `since` (inclusive)."""
    events = AuditEvent.objects.order_by("ts", "id")
    if since is not None:
        events = events.filter(ts__gte=since)
    return list(events[:limit])


def audit_page(*, before: int | None, limit: int) -> list[AuditEvent]:
    """Newest first, from below the id `before` (the `/admin/logs` cursor)."""
    events = AuditEvent.objects.order_by("-id")
    if before is not None:
        events = events.filter(id__lt=before)
    return list(events[:limit])


def audit_latest_ts() -> datetime | None:
    return AuditEvent.objects.order_by("-id").values_list("ts", flat=True).first()


def staff_user_exists() -> bool:
    """False on a fresh install: no active staff user yet, so the setup wizard is the way in."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_staff=True, is_active=True).exists()


def audit_search(
    *, action: str | None = None, actor: str | None = None, before: int | None, limit: int
) -> list[AuditEvent]:
    """Newest first, below the id `before`: `action` matches an action or its dotted start
    (`host.` or `host`: every host action), `actor` a part of the actor (case-insensitive)."""
    events = AuditEvent.objects.order_by("-id")
    if action:
        stem = action.rstrip(".")
        events = events.filter(Q(action=stem) | Q(action__startswith=stem + "."))
    if actor:
        events = events.filter(actor__icontains=actor)
    if before is not None:
        events = events.filter(id__lt=before)
    return list(events[:limit])
