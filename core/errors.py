"""One application error type, and its rendering in the two API dialects.

Usage dialect (`/api/*`, `/embed/*`, `/metrics`, `/health`): `{"error": "...", "fields": {...}}`.
Fleet dialect (`/auth`, `/usage`, `/wrapper*`, `/slash-commands*`, `/versions`, `/install/*`,
`/admin/*`): `{"status": "error", "message": "...", "errors": {...}}`, validation answers 422.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger("tokenfleet.errors")

FLEET_PREFIXES = (
    "/auth",
    "/usage",
    "/wrapper",
    "/slash-commands",
    "/versions",
    "/install/",
    "/admin/",
)
USAGE_PREFIXES = ("/api/", "/embed/", "/metrics", "/health")

FLEET = "fleet"
USAGE = "usage"


def dialect_for_path(path: str) -> str | None:
    """The API dialect that owns `path`, or None for HTML pages."""
    for prefix in FLEET_PREFIXES:
        bare = prefix.rstrip("/")
        # `/install` and `/admin` without their slash are still the fleet API's (a JSON 404).
        if path == bare or path.startswith(bare + "/"):
            return FLEET
    for prefix in USAGE_PREFIXES:
        if path.startswith(prefix) or path == prefix.rstrip("/"):
            return USAGE
    return None


class ApplicationError(Exception):
    """Raised by services and views; rendered in the dialect of the route that raised it."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 400,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.fields = fields or {}
        self.headers = headers or {}


def error_body(dialect: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    if dialect == FLEET:
        body: dict[str, Any] = {"status": "error", "message": message}
        if fields:
            body["errors"] = {key: _as_list(value) for key, value in fields.items()}
        return body
    body = {"error": message}
    if fields:
        body["fields"] = fields
    return body


def error_response(
    request: HttpRequest,
    message: str,
    status_code: int,
    fields: dict[str, Any] | None = None,
    dialect: str | None = None,
) -> JsonResponse:
    dialect = dialect or dialect_for_path(request.path) or USAGE
    return JsonResponse(error_body(dialect, message, fields), status=status_code)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return [str(value)]


def flatten_detail(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: flatten_detail(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [flatten_detail(item) for item in detail]
        return flat[0] if len(flat) == 1 and isinstance(flat[0], str) else flat
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler that speaks both dialects."""
    request = context.get("request")
    path = request.path if request is not None else ""
    dialect = dialect_for_path(path) or USAGE
    headers: dict[str, str] = {}
    # Django's own exceptions, as DRF's default handler maps them (get_object_or_404 and such).
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, ApplicationError):
        status_code, message, fields = exc.status_code, exc.message, exc.fields
        headers.update(exc.headers)
    elif isinstance(exc, exceptions.ValidationError):
        detail = flatten_detail(exc.detail)
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        status_code = 422 if dialect == FLEET else status.HTTP_400_BAD_REQUEST
        message = "Validation failed." if dialect == FLEET else "Invalid request."
    elif isinstance(exc, exceptions.ParseError):
        status_code, fields = status.HTTP_400_BAD_REQUEST, {}
        message = "Malformed JSON body."
    elif isinstance(exc, exceptions.Throttled):
        status_code, fields = status.HTTP_429_TOO_MANY_REQUESTS, {}
        message = "Rate limit exceeded."
        wait: float | None = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    elif isinstance(exc, exceptions.APIException):
        status_code, fields = exc.status_code, {}
        message = flatten_detail(exc.detail)
        if not isinstance(message, str):
            message = str(message)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
    else:
        return None  # unhandled: the middleware logs it and answers a JSON 500

    response = Response(error_body(dialect, message, fields), status=status_code)
    for key, value in headers.items():
        response[key] = value
    if status_code == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="tokenfleet"'
    return response
