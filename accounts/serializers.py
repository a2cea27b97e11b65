from __future__ import annotations

from rest_framework import serializers

from accounts.models import ApiToken, AuditEvent, Scope
from core.time import iso


class TokenIssueInput(serializers.Serializer):
    user = serializers.CharField(max_length=100, trim_whitespace=True)
    scope = serializers.ChoiceField(
        choices=Scope.values, error_messages={"invalid_choice": "Unknown scope {input}."}
    )
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    expiresAt = serializers.DateTimeField(required=False, allow_null=True, default=None)  # noqa: N815


def token_row(token: ApiToken) -> dict:
    return {
        "id": token.pk,
        "user": token.user,
        "scope": token.scope,
        "label": token.label,
        "hint": token.hint,
        "createdAt": iso(token.created_at),
        "expiresAt": iso(token.expires_at),
        "revokedAt": iso(token.revoked_at),
        "lastUsedAt": iso(token.last_used_at),
        "active": token.is_active(),
    }


def audit_row(event: AuditEvent) -> dict:
    return {
        "id": event.pk,
        "ts": iso(event.ts),
        "action": event.action,
        "actor": event.actor,
        "ip": event.ip,
        "meta": event.meta,
    }
