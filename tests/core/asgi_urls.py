"""Routes for tests/core/test_asgi_handler.py: a streaming answer outside the SSE paths."""

from __future__ import annotations

from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from accounts.views import health


def chunks(request):
    return StreamingHttpResponse(iter([b"one,", b"two"]), content_type="text/csv")


def plain(request):
    return HttpResponse(b"plain")


urlpatterns = [
    path("health", health),
    path("chunks", chunks),
    path("plain", plain),
]
