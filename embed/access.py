"""Who may read from a web page on another origin: the embed-origins whitelist applied.

One place for the rules an embed token and a whitelisted origin share, on the embed routes
(`/embed/*`) and on the usage reads that wigtoken's widget calls from its host page
(`/api/usage/*`): the caller's origin looked up once per request, CORS headers that only ever
echo a whitelisted origin, the embed-token rule for usage reads, and the per (token, client IP)
rate limit of embeds.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework.permissions import BasePermission

from accounts.throttles import CredentialRateThrottle
from core.client_ip import client_ip
from core.errors import error_response
from core.principals import TOKEN
from embed import selectors
from embed.origins import request_origin

CORS_MAX_AGE_SECONDS = 600
FORBIDDEN_ORIGIN = "This origin is not allowed to embed tokenfleet."
WIDGET_ROUTES_ONLY = (
    "An embed token may read only /api/usage/totals, timeseries, leaderboard and recent."
)


def allowed_origin(request) -> str | None:
    """The caller's normalised origin when it is whitelisted, else None (looked up once per
    request, whether `request` is Django's or DRF's)."""
    django_request = getattr(request, "_request", request)
    if not hasattr(django_request, "_embed_allowed_origin"):
        origin = request_origin(django_request)
        allowed = selectors.embed_origin_allowed(origin=origin)
        django_request._embed_allowed_origin = origin if allowed else None
    return django_request._embed_allowed_origin


def is_preflight(request) -> bool:
    return request.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in request.META


def preflight_response(request, *, methods: str, headers: str) -> HttpResponse:
    """204 with the CORS grant for a whitelisted origin; 403 and no CORS header otherwise."""
    origin = allowed_origin(request)
    response: HttpResponse
    if origin is None:
        response = error_response(request, FORBIDDEN_ORIGIN, 403)
    else:
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = headers
        response["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
    patch_vary_headers(response, ["Origin"])
    return response


def cors_headers_add(request, response) -> None:
    """`Access-Control-Allow-Origin` for a whitelisted caller only; `Vary: Origin` always,
    so a shared cache never hands one origin's answer to another."""
    origin = allowed_origin(request)
    if origin is not None:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    patch_vary_headers(response, ["Origin"])


class EmbedOriginAllowed(BasePermission):
    message = FORBIDDEN_ORIGIN

    def has_permission(self, request, view) -> bool:
        return allowed_origin(request) is not None


def _is_embed_token(principal) -> bool:
    return (
        getattr(principal, "is_authenticated", False)
        and principal.kind == TOKEN
        and principal.scope == "embed"
    )


class EmbedTokenUsageRule(BasePermission):
    """Usage reads with USAGE_API_PUBLIC=false: an embed token is published in a web page, so it
    reads only the widget's routes (views with `embed_readable = True`) and only from a
    whitelisted origin. Every other usage route (the stream, `/metrics`, breakdown, users, CSV)
    refuses it from any origin. Other credentials are left to the scope permission."""

    message = WIDGET_ROUTES_ONLY

    def has_permission(self, request, view) -> bool:
        if settings.USAGE_API_PUBLIC or not _is_embed_token(request.user):
            return True
        if not getattr(view, "embed_readable", False):
            return False
        if allowed_origin(request) is None:
            self.message = FORBIDDEN_ORIGIN
            return False
        return True


class EmbedRateThrottle(CredentialRateThrottle):
    """Per embed token *and* client IP: one busy wall screen does not lock out the others."""

    def key(self, request, view) -> str | None:
        credential_key = super().key(request, view)
        if credential_key is None:
            return None
        return f"embed:{credential_key}:{client_ip(request) or '-'}"


class UsageReadThrottle(EmbedRateThrottle):
    """The usage reads' rate limit: per token or host key, and per (token, client IP) for an
    embed token, which every viewer of a widget page shares."""

    def key(self, request, view) -> str | None:
        if _is_embed_token(request.user):
            return super().key(request, view)
        return CredentialRateThrottle.key(self, request, view)


class UsageCorsMiddleware:
    """CORS for `/api/usage/*`, for origins on the embed whitelist only.

    A preflight is answered here, before authentication (browsers send no credentials with it).
    Every other answer under the prefix, errors included, gets the grant when the caller's
    origin is whitelisted, and `Vary: Origin` in any case.
    """

    PREFIX = "/api/usage/"
    ALLOW_METHODS = "GET"
    ALLOW_HEADERS = "authorization, content-type"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(self.PREFIX):
            return self.get_response(request)
        if is_preflight(request):
            return preflight_response(
                request, methods=self.ALLOW_METHODS, headers=self.ALLOW_HEADERS
            )
        response = self.get_response(request)
        cors_headers_add(request, response)
        return response
