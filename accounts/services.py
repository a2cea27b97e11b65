"""Writes for accounts: tokens and the audit log. Keyword-only, one transaction each."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.request import Request

from accounts.models import SCOPE_PREFIX, ApiToken, AuditEvent, Scope
from accounts.serializers import token_issue_input
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.hashing import secret_hint, sha256_hex
from core.logfilters import redact
from core.principals import Principal
from core.validation import text_problem

LAST_USED_RESOLUTION = timedelta(minutes=1)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Keys whose values are never written to the audit log, whatever a caller passes.
SECRET_META_KEYS = frozenset(
    {
        "token",
        "api_key",
        "apikey",
        "secret",
        "password",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "authorization",
        "key",
    }
)


def _scrub(value: Any) -> Any:
    """Audit meta as stored: no value under a secret's name, no credential inside any string
    (a path or query quoted in meta may carry an installer link or a token), and only text
    PostgreSQL's JSON can hold."""
    if isinstance(value, dict):
        return {
            _scrub_text(str(key)): (
                "[redacted]" if str(key).lower() in SECRET_META_KEYS else _scrub(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def _scrub_text(text: str) -> str:
    if text_problem(text):
        text = _UNSTORABLE.sub("\ufffd", text)
    return redact(text)


def request_actor(request: HttpRequest | Request) -> str:
    principal = getattr(request, "user", None)
    if isinstance(principal, Principal):
        return principal.actor
    django_user = getattr(request, "_request", request)
    user = getattr(django_user, "user", None)
    if user is not None and getattr(user, "is_authenticated", False):
        return f"staff:{user.get_username()}"
    return ""


def staff_actor(request: HttpRequest) -> str:
    """Who made a change in Django admin: the staff user, else `staff`."""
    return request_actor(request) or "staff"


def audit_record(
    *,
    action: str,
    actor: str = "",
    ip: str | None = None,
    meta: dict[str, Any] | None = None,
    request: HttpRequest | Request | None = None,
) -> AuditEvent:
    """Record one audit event. Call it inside the transaction of the change it describes."""
    if request is not None:
        actor = actor or request_actor(request)
        ip = ip or client_ip(request)
    return AuditEvent.objects.create(
        action=action, actor=actor[:200], ip=ip, meta=_scrub(meta or {})
    )


def token_issue(
    *,
    user: str,
    scope: str,
    label: str = "",
    expires_at: datetime | None = None,
    actor: str = "",
    ip: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext, which is never stored or shown again.

    The arguments are checked by accounts.serializers.TokenIssueInput (naive times are UTC)."""
    valid = token_issue_input(
        {"user": user, "scope": scope, "label": label or "", "expiresAt": expires_at}
    )
    user, scope, label, expires_at = (
        valid["user"],
        valid["scope"],
        valid["label"],
        valid["expiresAt"],
    )

    plaintext = SCOPE_PREFIX[Scope(scope)] + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            scope=scope,
            label=label or "",
            token_hash=sha256_hex(plaintext),
            hint=secret_hint(plaintext),
            expires_at=expires_at,
            created_by=actor,
        )
        audit_record(
            action="token.issue",
            actor=actor,
            ip=ip,
            meta={"token_id": token.pk, "user": user, "scope": scope, "hint": token.hint},
        )
    return token, plaintext


def token_revoke(*, token_id: int, actor: str = "", ip: str | None = None) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise ApplicationError("Token not found.", status_code=404)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
        audit_record(
            action="token.revoke",
            actor=actor,
            ip=ip,
            meta={"token_id": token.pk, "user": token.user, "scope": token.scope},
        )
    return token


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a presented token: the active row, or why there is none."""

    token: ApiToken | None
    reason: str  # "ok", "unknown", "revoked" or "expired"
    token_id: int | None = None  # set for a known token, so a refusal can name it in the audit


def token_check(*, plaintext: str) -> TokenCheck:
    """Check a presented token. Touches `last_used_at` at most once a minute."""
    if not plaintext or len(plaintext) > 200:
        return TokenCheck(None, "unknown")
    digest = sha256_hex(plaintext)
    token = ApiToken.objects.filter(token_hash=digest).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return TokenCheck(None, "unknown")
    now = timezone.now()
    if token.revoked_at is not None:
        return TokenCheck(None, "revoked", token.pk)
    if token.expires_at is not None and token.expires_at <= now:
        return TokenCheck(None, "expired", token.pk)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # A conditional UPDATE: concurrent requests write the column once, not once each.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return TokenCheck(token, "ok", token.pk)


def audit_prune(*, older_than_days: int | None = None) -> int:
    """Delete audit events older than `older_than_days` (default AUDIT_RETENTION_DAYS).

    Returns how many were deleted; a prune that deletes rows is itself audited.
    """
    days = settings.AUDIT_RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 1:
        raise ApplicationError(
            "Invalid request.", fields={"older_than_days": "Must be at least 1."}
        )
    cutoff = timezone.now() - timedelta(days=days)
    with transaction.atomic():
        deleted, _per_model = AuditEvent.objects.filter(ts__lt=cutoff).delete()
        if deleted:
            audit_record(
                action="audit.prune",
                actor="system:retention",
                meta={"deleted": deleted, "older_than_days": days, "before": cutoff.isoformat()},
            )
    return deleted
