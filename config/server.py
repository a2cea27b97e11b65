"""The uvicorn worker `make run` starts (config/gunicorn.conf.py): uvicorn's h11 protocol with a
request-header timeout.

uvicorn closes idle keep-alive connections, but a connection that sends part of its request
line or headers and then trickles (slowloris) is never timed out: it holds a socket and memory
for as long as the client likes. Here a connection that has not completed its request headers
within REQUEST_HEADER_TIMEOUT seconds of connecting (or of its previous response) gets a 408
and is closed. Bodies are timed by config/limits.py.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

_TIMEOUT_BODY = b"Request headers not received in time."
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderTimeoutH11Protocol(H11Protocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._timed_cycle: object | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._timed_cycle:
            # A request line and all its headers arrived: the header clock stops.
            self._timed_cycle = self.cycle
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request on this connection gets its own time

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        timeout = float(settings.REQUEST_HEADER_TIMEOUT)
        if timeout > 0:
            self._header_timer = self.loop.call_later(timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        # Between requests the last cycle is complete; during one, its response is pending.
        waiting_for_headers = self.cycle is None or self.cycle.response_complete
        if self.transport.is_closing() or not waiting_for_headers:
            return
        self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


class TokenfleetUvicornWorker(UvicornWorker):
    # No proxy-header handling in uvicorn: core.client_ip alone reads X-Forwarded-For/-Proto,
    # and only from TRUSTED_PROXIES (rewritten here, a proxy's mTLS header would look as if the
    # client sent it, and the client's forged one as if the proxy did).
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": HeaderTimeoutH11Protocol,
        "proxy_headers": False,
        "forwarded_allow_ips": "",
    }
