"""Request ids, and JSON errors (never an HTML page) for every API prefix."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse

from core.client_ip import drop_untrusted_forwarded_headers, from_trusted_proxy
from core.errors import FLEET, USAGE, dialect_for_path, error_body
from core.validation import text_problem

logger = logging.getLogger("tokenfleet.request")

GetResponse = Callable[[HttpRequest], HttpResponse]

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# What a proxy may hand us as its request id: short, and safe to echo into logs and headers.
_FORWARDED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class ForwardedHeadersMiddleware:
    """First in the stack: forwarded headers (X-Forwarded-*, the mTLS header, X-Request-Id)
    from a peer that is not a trusted proxy are removed before anything reads them."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        drop_untrusted_forwarded_headers(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """Gives every request an id (kept from a trusted proxy's X-Request-Id) for logs and 500s."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = self._forwarded(request) or uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-Id"] = request_id
        return response

    @staticmethod
    def _forwarded(request: HttpRequest) -> str | None:
        value = str(request.META.get("HTTP_X_REQUEST_ID", ""))
        if value and _FORWARDED_REQUEST_ID.fullmatch(value) and from_trusted_proxy(request):
            return value
        return None


_STATUS_MESSAGES = {
    400: "Bad request.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    413: "Request body too large.",
    500: "Internal server error.",
    503: "Database unavailable; retry shortly.",
}
# Seconds a client is asked to wait while the database does not answer.
DATABASE_RETRY_AFTER = 5

# Headers of the replaced page that still mean something to the client.
_KEPT_HEADERS = (
    "Allow",
    "Retry-After",
    "WWW-Authenticate",
    "Access-Control-Allow-Origin",
    "Access-Control-Expose-Headers",
    "Vary",
)


def _message(status_code: int) -> str:
    if status_code in _STATUS_MESSAGES:
        return _STATUS_MESSAGES[status_code]
    try:
        return HTTPStatus(status_code).phrase + "."
    except ValueError:
        return "Error."


class ApiErrorMiddleware:
    """API prefixes answer JSON in their dialect for unknown routes and unhandled errors.

    Django's own error pages (404, 405, 500, and with DEBUG on its technical pages) are HTML;
    on an API prefix they are replaced by the dialect's error body. Responses a view renders
    itself in another type (a shell script, Prometheus text) pass through untouched.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        dialect = dialect_for_path(request.path)
        if dialect is None or response.status_code < 400 or response.streaming:
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return self._json(request, dialect, response.status_code, response)

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        dialect = dialect_for_path(request.path)
        if dialect is None:
            return None
        if isinstance(exception, Http404):
            return self._json(request, dialect, 404)
        if isinstance(exception, PermissionDenied):
            return self._json(request, dialect, 403)
        if isinstance(exception, RequestDataTooBig):
            return self._json(request, dialect, 413)
        if isinstance(exception, OperationalError | InterfaceError):
            # The database is down or out of connections: the client should come back, not
            # report a bug. (Constraint violations are IntegrityError/DataError, not these.)
            logger.warning(
                "database unavailable, request id %s: %s: %s",
                getattr(request, "request_id", current_request_id()),
                type(exception).__name__,
                exception,
            )
            response = self._json(request, dialect, 503)
            response["Retry-After"] = str(DATABASE_RETRY_AFTER)
            return response
        if isinstance(exception, BadRequest | SuspiciousOperation):
            return self._json(request, dialect, 400)
        request_id = getattr(request, "request_id", current_request_id())
        logger.exception(
            "unhandled error, request id %s: %s %s", request_id, request.method, request.path
        )
        return self._json(request, dialect, 500)

    def _json(
        self,
        request: HttpRequest,
        dialect: str,
        status_code: int,
        original: HttpResponseBase | None = None,
    ) -> JsonResponse:
        body = error_body(dialect, _message(status_code))
        if status_code >= 500:
            key = "request_id" if dialect == FLEET else "requestId"
            body[key] = getattr(request, "request_id", current_request_id())
        response = JsonResponse(body, status=status_code)
        if original is not None:
            for header in _KEPT_HEADERS:
                if original.get(header):
                    response[header] = original[header]
        return response


class RequestGuardMiddleware:
    """Refuses, before any view or query runs, what no route can accept.

    - A body announced larger than MAX_REQUEST_BODY_BYTES: 413 without reading it (the ASGI
      layer, config/asgi.py, also cuts bodies sent without a length).
    - NUL in the path or the query string: PostgreSQL cannot store or compare it, so every
      filter, lookup and audit row would fail on it. 400 naming the parameter.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        dialect = dialect_for_path(request.path)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MAX_REQUEST_BODY_BYTES
        if length > limit:
            return _guard_response(
                dialect, 413, f"Request body too large: at most {limit} bytes.", {}
            )
        if text_problem(request.path):
            return _guard_response(
                dialect, 400, "Invalid request.", {"path": "Must not contain NUL characters."}
            )
        query = request.META.get("QUERY_STRING", "")
        if "%00" in query or "\x00" in query:
            for key, values in request.GET.lists():
                for value in (key, *values):
                    problem = text_problem(value)
                    if problem:
                        name = "query" if text_problem(key) else key
                        return _guard_response(dialect, 400, "Invalid request.", {name: problem})
        return None


def _guard_response(
    dialect: str | None, status_code: int, message: str, fields: dict[str, str]
) -> HttpResponse:
    if dialect is None:
        return HttpResponse(message, status=status_code, content_type="text/plain; charset=utf-8")
    if dialect == FLEET and status_code == 400 and fields:
        status_code = 422  # the fleet dialect's validation status
    return JsonResponse(error_body(dialect or USAGE, message, fields), status=status_code)
