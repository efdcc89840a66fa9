"""How uvicorn serves the API: bounded request reads, forwarded headers left to the app.

uvicorn bounds only the idle time between two requests of a keep-alive connection
(`timeout_keep_alive`): a client that opens a connection and sends nothing, or sends its
headers or its body a byte every few seconds, holds the connection (and, for a body, the
request's task) for as long as it likes, and httptools accepts a head of any size.
`BoundedHttpProtocol` gives each request a deadline for its head and another for its body
(past either: 408) and a size limit for its head (431); then the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fte.config import Settings

# A request line and headers past this are refused (431) once the next bytes arrive: httptools
# itself sets no limit, and one connection could otherwise fill memory with a header.
MAX_HEAD_BYTES = 65_536


def _response(status: bytes, error: str, detail: str) -> bytes:
    body = json.dumps({"error": error, "detail": detail}).encode()
    return (
        b"HTTP/1.1 " + status + b"\r\n"
        b"content-type: application/json\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


_TIMEOUT = _response(b"408 Request Timeout", "request timeout", "the request was sent too slowly")
_HEAD_TOO_LARGE = _response(
    b"431 Request Header Fields Too Large",
    "request head too large",
    f"request line and headers over {MAX_HEAD_BYTES} bytes",
)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's head and body."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            # Checked before parsing: the chunk that ends a head may carry body bytes too.
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(_HEAD_TOO_LARGE)
                return
            self._head_bytes += len(data)
        super().data_received(data)

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
        self._reading_head = False
        super().on_headers_complete()
        self._arm(self._body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
        self._reading_head, self._head_bytes = True, 0

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        self._refuse(_TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(response)
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
