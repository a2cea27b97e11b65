"""Request ids, and JSON errors (never an HTML page) for every API prefix."""

from __future__ import annotations

import contextvars
import logging
import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.errors import FLEET, dialect_for_path, error_body

logger = logging.getLogger("tokenfleet.request")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-Id"] = request_id
        return response


_STATUS_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    500: "Internal server error.",
}


class ApiErrorMiddleware:
    """API prefixes answer JSON in their dialect for unknown routes and unhandled errors."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        dialect = dialect_for_path(request.path)
        if dialect is None or response.status_code not in _STATUS_MESSAGES:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.streaming:
            return response
        return self._json(request, dialect, response.status_code, response)

    def process_exception(self, request: HttpRequest, exception: Exception):
        dialect = dialect_for_path(request.path)
        if dialect is None:
            return None
        from django.core.exceptions import PermissionDenied
        from django.http import Http404

        if isinstance(exception, Http404):
            return self._json(request, dialect, 404)
        if isinstance(exception, PermissionDenied):
            return JsonResponse(error_body(dialect, "Forbidden."), status=403)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return self._json(request, dialect, 500)

    def _json(self, request, dialect: str, status_code: int, original=None) -> JsonResponse:
        body = error_body(dialect, _STATUS_MESSAGES[status_code])
        if status_code == 500:
            key = "request_id" if dialect == FLEET else "requestId"
            body[key] = getattr(request, "request_id", current_request_id())
        response = JsonResponse(body, status=status_code)
        if original is not None and status_code == 405 and original.get("Allow"):
            response["Allow"] = original["Allow"]
        return response
