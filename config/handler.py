"""Django's ASGI handler, with every request but the streams served by the sync middleware chain
in one thread hop.

Django runs a mixed middleware stack under ASGI by switching between the event loop and a thread
at every boundary: each `MiddlewareMixin` middleware (security, sessions, CSRF, ...) calls its
`process_request` and `process_response` through `sync_to_async`, and our sync-only middleware
split the chain so the inner part runs async again. A plain `GET /health` crossed about twenty
times (measured with bench/floor.py: 3.5 ms of CPU a request in process, 0.85 ms like this).
Our views are sync, so nothing is gained by those crossings: here the whole stack (middleware,
view, exception handling) runs in the thread Django would have used for the view, as under WSGI.

The SSE streams (config.limits.STREAM_PATHS) keep Django's async chain: their views are async
and must not hold a thread for the life of a stream.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class TokenfleetASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        from config.limits import STREAM_PATHS  # after django.setup(): it reads our settings

        super().__init__()  # the async chain, for the streams
        self._stream_paths = STREAM_PATHS
        self._sync_handler = BaseHandler()
        self._sync_handler.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if request.path in self._stream_paths:
            return await super().get_response_async(request)
        # The request's thread-sensitive context (config.limits) picks the thread.
        response: HttpResponseBase = await sync_to_async(
            self._sync_handler.get_response, thread_sensitive=True
        )(request)
        return response


def get_asgi_application() -> TokenfleetASGIHandler:
    import django

    django.setup(set_prefix=False)
    return TokenfleetASGIHandler()
