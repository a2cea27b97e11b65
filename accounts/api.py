"""/api/admin/tokens and /api/admin/audit (usage dialect, admin tokens only)."""

from __future__ import annotations

import re

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.permissions import IsAdmin
from accounts.serializers import TokenIssueInput, audit_row, token_row
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.time import from_epoch, parse_iso


class TokenListCreateApi(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"tokens": [token_row(token) for token in selectors.token_list()]})

    def post(self, request):
        if not isinstance(request.data, dict):
            raise ApplicationError("Request body must be a JSON object.")
        serializer = TokenIssueInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        token, plaintext = services.token_issue(
            user=data["user"],
            scope=data["scope"],
            label=data.get("label", ""),
            expires_at=data.get("expiresAt"),
            actor=request.user.actor,
            ip=client_ip(request),
        )
        return Response({"token": plaintext, **token_row(token)}, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    permission_classes = [IsAdmin]

    def delete(self, request, token_id: int):
        services.token_revoke(token_id=token_id, actor=request.user.actor, ip=client_ip(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def parse_since(value: str | None):
    if value in (None, ""):
        return None
    # An unencoded "+01:00" arrives as " 01:00" (a query string's "+" is a space).
    value = re.sub(r" (\d{2}:?\d{2})$", r"+\1", value)
    try:
        return from_epoch(float(value))
    except (ValueError, OverflowError, OSError):
        pass
    parsed = parse_iso(value)
    if parsed is None:
        raise ApplicationError(
            "Invalid request.", fields={"since": "Use epoch seconds, milliseconds or ISO 8601."}
        )
    return parsed


def parse_limit(value: str | None, *, default: int, maximum: int, name: str = "limit") -> int:
    """A positive integer, capped at `maximum`."""
    if value in (None, ""):
        return default
    try:
        limit = int(value)
    except ValueError:
        raise ApplicationError(
            "Invalid request.", fields={name: "Must be a positive integer."}
        ) from None
    if limit < 1:
        raise ApplicationError("Invalid request.", fields={name: "Must be a positive integer."})
    return min(limit, maximum)


class AuditListApi(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        since = parse_since(request.query_params.get("since"))
        limit = parse_limit(
            request.query_params.get("limit"),
            default=selectors.AUDIT_LIMIT_DEFAULT,
            maximum=selectors.AUDIT_LIMIT_MAX,
        )
        events = selectors.audit_since(since=since, limit=limit)
        return Response({"entries": [audit_row(event) for event in events]})
