"""DRF authentication for scoped API tokens (`Authorization: Bearer wa_…`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import SCOPE_PREFIX, ApiToken
from accounts.services import audit_record, token_check
from core import ratelimit
from core.client_ip import client_ip
from core.logfilters import redact
from core.principals import TOKEN, Principal

TOKEN_PREFIXES = tuple(SCOPE_PREFIX.values())


def bearer_credential(request: HttpRequest | Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    parts = header.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def refuse_if_ip_blocked(request: HttpRequest | Request) -> None:
    """429 for a client IP that failed authentication too often in the current window.

    Called before a presented credential is checked, so a blocked address cannot keep guessing
    (a valid credential from that address waits too). Audited once per window and address.
    """
    ip = client_ip(request)
    verdict = ratelimit.auth_failures_blocked(ip, request=request)
    if verdict.allowed:
        return
    bucket = ratelimit.auth_fail_key(ip)
    if ratelimit.claim_once(bucket, window=settings.AUTH_FAIL_WINDOW_SECONDS):
        audit_record(
            action="rate.limited",
            ip=ip,
            meta={"bucket": bucket, "limit": verdict.limit, "path": redact(request.path)[:200]},
        )
    raise exceptions.Throttled(wait=verdict.retry_after)


def record_auth_failure(
    request: HttpRequest | Request,
    *,
    reason: str,
    credential_kind: str,
    meta: dict[str, Any] | None = None,
) -> None:
    ip = client_ip(request)
    ratelimit.auth_failure_count(ip)
    audit_record(
        action="auth.failed",
        ip=ip,
        meta={
            "reason": reason,
            "credential": credential_kind,
            "path": redact(request.path)[:200],
            **(meta or {}),
        },
    )


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """Bearer tokens with a scope prefix. Other bearer values are left to the next class."""

    keyword = "Bearer"

    def credential(self, request: Request) -> str | None:
        value = bearer_credential(request)
        if value and value.startswith(TOKEN_PREFIXES):
            return value
        return None

    def authenticate(self, request: Request) -> tuple[Principal, ApiToken] | None:
        plaintext = self.credential(request)
        if plaintext is None:
            return None
        refuse_if_ip_blocked(request)
        check = token_check(plaintext=plaintext)
        token = check.token
        if token is None:
            record_auth_failure(
                request,
                reason=check.reason,
                credential_kind="token",
                meta={"token_id": check.token_id} if check.token_id else None,
            )
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired token.")
        return Principal(kind=TOKEN, user=token.user, scope=token.scope, credential=token), token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="tokenfleet"'


class QueryTokenAuthentication(ApiTokenAuthentication):
    """Also accepts `?token=` (browser embeds cannot set headers on an EventSource)."""

    def credential(self, request: Request) -> str | None:
        value = super().credential(request)
        if value is None:
            query_value = (
                request.query_params.get("token", "")
                if hasattr(request, "query_params")
                else request.GET.get("token", "")
            )
            if query_value.startswith(TOKEN_PREFIXES):
                value = query_value
        return value
