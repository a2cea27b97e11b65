"""Scope permissions. Every view names what it needs; the default denies."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpRequest
from rest_framework.permissions import BasePermission

from core.client_ip import mtls_header_present as mtls_header_present  # the former home
from core.client_ip import mtls_verified
from core.principals import Principal

if TYPE_CHECKING:  # DRF loads these modules while rest_framework.views is importing
    from rest_framework.request import Request
    from rest_framework.views import APIView


class DenyAll(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return False


def _principal(request: Request) -> Principal | None:
    principal = request.user
    return principal if isinstance(principal, Principal) else None


class _ScopePermission(BasePermission):
    scopes: tuple[str, ...] = ()
    message = "Token lacks the required scope."

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = _principal(request)
        return principal is not None and principal.has_scope(*self.scopes)


class IsAdmin(_ScopePermission):
    scopes = ("admin",)
    message = "This route needs an admin token."


class CanIngest(_ScopePermission):
    scopes = ("ingest",)
    message = "This route needs an ingest token."


class CanRead(_ScopePermission):
    scopes = ("read", "embed")
    message = "This route needs a read, embed or admin token."


class CanEmbed(_ScopePermission):
    scopes = ("embed",)
    message = "This route needs an embed or admin token."


class UsageReadAccess(CanRead):
    """Public unless USAGE_API_PUBLIC=false; then a read, embed or admin token. The usage views
    pair it with embed.access.EmbedTokenUsageRule, which narrows what an embed token reads."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if settings.USAGE_API_PUBLIC:
            return True
        return super().has_permission(request, view)


def mtls_admin_allowed(request: HttpRequest | Request) -> bool:
    """The mTLS header from a trusted proxy, plus DASHBOARD_ADMIN_KEY when one is set."""
    if not mtls_verified(request):
        return False
    expected = settings.DASHBOARD_ADMIN_KEY
    if not expected:
        return True
    presented = request.META.get("HTTP_X_ADMIN_KEY", "")
    if not presented:
        auth = request.META.get("HTTP_AUTHORIZATION", "")
        if auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
    return bool(presented) and hmac.compare_digest(presented.encode(), expected.encode())


class FleetAdminAccess(BasePermission):
    """`/admin/*`: an admin token, or mTLS from a trusted proxy (+ the admin key when set)."""

    message = "Admin access requires mTLS or an admin token."

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = _principal(request)
        if principal is not None and principal.has_scope("admin") and principal.kind == "token":
            return True
        return mtls_admin_allowed(request)
