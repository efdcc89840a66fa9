"""Time every API request into fte_http_request_duration_seconds / fte_http_requests_total."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fte.kit import metrics

STATIC_PREFIX = "/console/static"


def route_template(scope: Scope) -> str:
    """The matched route's template (`/support/tickets/{ticket_id}`), never the raw path:
    label values stay few whatever URLs clients send. Unrouted paths share `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path", "").startswith(STATIC_PREFIX + "/"):
        return STATIC_PREFIX
    return "unmatched"


class HttpMetricsMiddleware:
    """Outermost middleware: sees the final status, including errors turned into responses."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = (route_template(scope), scope["method"], str(status))
            metrics.HTTP_DURATION.labels(*labels).observe(time.perf_counter() - started)
            metrics.HTTP_REQUESTS.labels(*labels).inc()
