"""The MCP server over streamable HTTP at `/mcp`, behind an API key.

Stateless, JSON responses: every POST carries its own key and is answered by whichever API
replica receives it, as the rest of the API is. A request without a valid key is answered 401
before the MCP transport reads it; a key with none of the MCP scopes, 403. Each tool then
checks the one scope it needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final

import asyncpg
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from fte.auth.dependencies import KeyRateLimited, count_key_request
from fte.db import DB_ERRORS
from fte.mcp import access
from fte.mcp.server import build_server

PATH: Final = "/mcp"
MAX_BODY_BYTES: Final = 1_000_000


def _key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _refuse(
    status: int, error: str, detail: object, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="fte"'}
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


class McpEndpoint:
    """An ASGI app: authenticates the key, then hands the request to the SDK's transport."""

    def __init__(self) -> None:
        self._pool: asyncpg.Pool | None = None
        server = build_server(self._current_pool)
        # The Starlette app it returns is not used: building it makes the session manager,
        # which this endpoint drives itself, after checking the key.
        server.streamable_http_app(
            json_response=True,
            stateless_http=True,
            # The key is the guard: a DNS-rebinding page cannot send it.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=MAX_BODY_BYTES,
        )
        self.manager: StreamableHTTPSessionManager = server.session_manager

    def _current_pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the /mcp endpoint runs inside the API's lifespan"
        return self._pool

    @contextlib.asynccontextmanager
    async def running(self, pool: asyncpg.Pool) -> AsyncIterator[None]:
        """Serve for the app's lifetime on its pool."""
        self._pool = pool
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        key = _key(request)
        if key is None:
            await _refuse(
                401, "unauthorized", "an X-API-Key or Authorization: Bearer header is required"
            )(scope, receive, send)
            return
        try:
            async with self._current_pool().acquire(timeout=5) as conn:
                caller = await access.access_for_key(conn, key)
        except DB_ERRORS as exc:
            await _refuse(503, "database unavailable", type(exc).__name__)(scope, receive, send)
            return
        if caller is None:
            await _refuse(401, "unauthorized", "invalid or revoked API key")(scope, receive, send)
            return
        if not any(caller.allows(s) for s in access.SCOPES):
            await _refuse(403, "forbidden", f"the key needs one of {', '.join(access.SCOPES)}")(
                scope, receive, send
            )
            return
        if caller.principal is not None:
            try:
                await count_key_request(
                    request.app.state.cache,
                    caller.principal,
                    request.app.state.settings.api_key_rate_limit,
                )
            except KeyRateLimited as exc:
                await _refuse(429, exc.message, exc.detail, exc.headers)(scope, receive, send)
                return
        token = access.current.set(caller)
        try:
            await self.manager.handle_request(scope, receive, send)
        finally:
            access.current.reset(token)
