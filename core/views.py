"""HTML error pages for HTML routes. API prefixes never get here: core.middleware's
ApiErrorMiddleware answers them in JSON (it replaces any text/html error page on those prefixes)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseServerError
from django.template import loader

from core.middleware import current_request_id


def server_error(request: HttpRequest) -> HttpResponseServerError:
    """Django's 500 view, plus the request id the log line carries. Rendered without a request
    context (no context processors, no database), as Django's own is."""
    request_id = getattr(request, "request_id", None) or current_request_id()
    body = loader.get_template("500.html").render({"request_id": request_id})
    return HttpResponseServerError(body)
