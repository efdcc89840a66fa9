"""How uvicorn serves the API: bounded request reads, forwarded headers left to the app.

uvicorn bounds only the idle time between two requests of a keep-alive connection
(`timeout_keep_alive`): a client that opens a connection and sends nothing, or sends its
headers or its body a byte every few seconds, holds the connection (and, for a body, the
request's task) for as long as it likes. `BoundedHttpProtocol` gives each request a deadline
for its head and another for its body; past either the client gets a 408 and the connection
is closed.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fte.config import Settings

_TIMEOUT_BODY = b'{"error": "request timeout", "detail": "the request was sent too slowly"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's head and body."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Before the first byte too: a connection that never speaks is bounded like a slow one.
        self._arm(self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a keep-alive connection
            self._arm(self._header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self._body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        # The request's task (if any) sees a disconnect, as for a client that went away.
        self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keywords for the API, shared by `fte serve` and the tests' server."""
    return {
        "http": functools.partial(
            BoundedHttpProtocol,
            header_timeout=settings.request_header_timeout_seconds,
            body_timeout=settings.request_body_timeout_seconds,
        ),
        # The app reads X-Forwarded-* itself, from FTE_TRUSTED_PROXIES only (fte.app); uvicorn's
        # own reading would trust 127.0.0.1 (or FORWARDED_ALLOW_IPS) before the app sees it.
        "proxy_headers": False,
    }
