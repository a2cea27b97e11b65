"""HEADLESS=true: the server answers its APIs only. Every HTML route (dashboard, login, setup
wizard, Django admin) is a JSON 404, so nothing interactive is exposed; `/api/setup/status` says
`headless: true`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import USAGE, dialect_for_path, error_body

HEADLESS_MESSAGE = "Not found. This server is headless (HEADLESS=true): it serves the API only."


class HeadlessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.HEADLESS and self._is_html_route(request.path):
            return JsonResponse(error_body(USAGE, HEADLESS_MESSAGE), status=404)
        return self.get_response(request)

    @staticmethod
    def _is_html_route(path: str) -> bool:
        static = "/" + settings.STATIC_URL.strip("/") + "/"
        return dialect_for_path(path) is None and not path.startswith(static)
