"""Every request gets an id: the client's `X-Request-ID`, or a new one. It is bound for the
request's log lines (and the outbox rows it writes) and echoed in the response header."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fte.kit import logging as trace

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Binds the request id for the request and answers with it in `X-Request-ID`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                sent = value.decode("latin-1")
                break
        request_id = trace.clean_request_id(sent)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with trace.bound(request_id=request_id):
            await self.app(scope, receive, send_with_id)
