"""/api/admin/tokens and /api/admin/audit (usage dialect, admin tokens only)."""

from __future__ import annotations

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.permissions import IsAdmin
from accounts.serializers import audit_row, token_issue_input, token_row
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.params import int_param, time_param


class TokenListCreateApi(APIView):
    permission_classes = [IsAdmin]

    def get(self, request: Request) -> Response:
        return Response({"tokens": [token_row(token) for token in selectors.token_list()]})

    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ApplicationError("Request body must be a JSON object.")
        data = token_issue_input(request.data)
        token, plaintext = services.token_issue(
            user=data["user"],
            scope=data["scope"],
            label=data.get("label", ""),
            expires_at=data.get("expiresAt"),
            actor=services.request_actor(request),
            ip=client_ip(request),
        )
        return Response({"token": plaintext, **token_row(token)}, status=status.HTTP_201_CREATED)


class TokenRevokeApi(APIView):
    permission_classes = [IsAdmin]

    def delete(self, request: Request, token_id: int) -> Response:
        services.token_revoke(
            token_id=token_id, actor=services.request_actor(request), ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuditListApi(APIView):
    permission_classes = [IsAdmin]

    def get(self, request: Request) -> Response:
        params = request.query_params
        since = time_param(params, "since")
        limit = int_param(
            params,
            "limit",
            default=selectors.AUDIT_LIMIT_DEFAULT,
            maximum=selectors.AUDIT_LIMIT_MAX,
            cap=True,
        )
        events = selectors.audit_since(since=since, limit=limit)
        return Response({"entries": [audit_row(event) for event in events]})
