"""Django's ASGI handler, with every request but the streams served in one thread hop.

Django runs a mixed middleware stack under ASGI by switching between the event loop and a thread
at every boundary: each `MiddlewareMixin` middleware (security, sessions, CSRF, ...) calls its
`process_request` and `process_response` through `sync_to_async`, and our sync-only middleware
split the chain so the inner part runs async again; the request signals take a hop each too. A
plain `GET /health` crossed about twenty times (bench/floor.py: 3.5 ms of CPU a request in
process). Our views are sync, so nothing is gained by those crossings: here the request signal,
the whole stack (middleware, view, exception handling) and, for a response that is already in
memory, its close (`request_finished`) run in one call on the thread Django would have used for
the view, as under WSGI. The event loop only reads the body and sends the response.

The SSE streams (config.limits.STREAM_PATHS) keep Django's own path: their views are async and
must not hold a thread for the life of a stream. A streaming response (a static file, an export)
is closed after it was sent, as Django does.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class TokenfleetASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        from config.limits import STREAM_PATHS  # after django.setup(): it reads our settings

        super().__init__()  # the async chain, for the streams
        self._stream_paths = STREAM_PATHS
        self._sync_handler = BaseHandler()
        self._sync_handler.load_middleware(is_async=False)

    async def handle(self, scope, receive, send) -> None:
        if scope.get("path") in self._stream_paths:
            await super().handle(scope, receive, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            # The request's thread-sensitive context (config.limits) picks the thread.
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            try:
                await self.send_response(response, send)
            finally:
                if response.streaming:
                    await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            response: HttpResponseBase = error_response
        else:
            response = self._sync_handler.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # the server chunks, as in Django
        if not response.streaming:
            # In memory already: closing now (request_finished, the database connection back
            # to its pool) changes nothing the client sees, and saves a hop after sending.
            response.close()
        return response


def get_asgi_application() -> TokenfleetASGIHandler:
    import django

    django.setup(set_prefix=False)
    return TokenfleetASGIHandler()
