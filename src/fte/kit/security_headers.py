"""Security headers on every response: what a browser may load, frame, send and keep.

The console and the support page carry a staff member's session or a customer's ticket
token, so a script that got into either could act as them. The policy allows scripts and
styles from this origin only (no inline code at all: every page's JS and CSS is a static
file), nothing may frame a page, and forms post only here. FastAPI's API explorer (/docs,
/redoc) loads Swagger UI and ReDoc from their CDN with an inline bootstrap script, so those
pages alone get a policy that allows that; they hold no session data of their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
_CDN: Final = "https://cdn.jsdelivr.net"
DOCS_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {_CDN}",
        f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
HSTS: Final = "max-age=31536000"
# Pages with a person's data that a shared computer's cache must not keep.
_PRIVATE_PREFIXES: Final = ("/console", "/support/tickets/")
_CACHEABLE_PREFIXES: Final = ("/console/static/",)


class SecurityHeadersMiddleware:
    """Adds CSP, framing, sniffing, referrer, HSTS (over https) and no-store headers."""

    def __init__(
        self, app: ASGIApp, *, https: bool = False, docs_paths: Iterable[str] = ()
    ) -> None:
        self.app = app
        self.https = https  # FTE_PUBLIC_URL is https: every request reached us over TLS
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        # uvicorn sets the scheme from X-Forwarded-Proto when the proxy is trusted.
        over_tls = self.https or scope.get("scheme") == "https"
        private = path.startswith(_PRIVATE_PREFIXES) and not path.startswith(_CACHEABLE_PREFIXES)
        policy = DOCS_POLICY if path in self.docs_paths else STRICT_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = policy
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if over_tls:
                    headers["Strict-Transport-Security"] = HSTS
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
