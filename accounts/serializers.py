from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.models import ApiToken, AuditEvent, Scope
from core.errors import ApplicationError, flatten_detail
from core.time import iso


class TokenIssueInput(serializers.Serializer[dict[str, Any]]):
    """The token rules, once: the API parses its body with this, and `token_issue` checks its
    arguments with it, so the CLI and every other caller get the same answers."""

    user = serializers.CharField(max_length=100, trim_whitespace=True)
    scope = serializers.ChoiceField(
        choices=Scope.values, error_messages={"invalid_choice": "Unknown scope {input}."}
    )
    # The stubs declare Field.label (the form label) as a string; this is the token label field.
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=200, required=False, allow_blank=True, default=""
    )
    expiresAt = serializers.DateTimeField(required=False, allow_null=True, default=None)  # noqa: N815

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Checked once the fields are valid, so a bad field is reported alone, as it always was.
        expires_at = attrs.get("expiresAt")
        if expires_at is not None and expires_at <= timezone.now():
            raise serializers.ValidationError({"expiresAt": "Must be in the future."})
        return attrs


def token_issue_input(data: Any) -> dict[str, Any]:
    """`data` checked by TokenIssueInput; ApplicationError (400, usage dialect) when invalid."""
    serializer = TokenIssueInput(data=data)
    if not serializer.is_valid():
        raise ApplicationError("Invalid request.", fields=flatten_detail(serializer.errors))
    return dict(serializer.validated_data)


def token_row(token: ApiToken) -> dict[str, Any]:
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


def audit_row(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "ts": iso(event.ts),
        "action": event.action,
        "actor": event.actor,
        "ip": event.ip,
        "meta": event.meta,
    }
