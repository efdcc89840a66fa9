"""FastAPI dependencies: who is asking, and may they."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Form, Header, Request, Response

from fte.auth import service
from fte.auth.schemas import Principal, Session
from fte.config import SettingsDep
from fte.db import PoolDep
from fte.errors import FteError
from fte.kit.cache import Cache

SESSION_COOKIE: Final = "fte_session"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# An API key's rate limit counts requests in fixed windows of a minute.
RATE_WINDOW_SECONDS: Final = 60


class LoginRequired(Exception):
    """A console page without a session: the handler redirects to the sign-in page."""

    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


class Unauthorized(FteError):
    status_code = 401


class Forbidden(FteError):
    status_code = 403


def login_url(next_path: str) -> str:
    return f"/console/login?next={quote(next_path, safe='/')}"


def safe_next(target: str | None) -> str:
    """Only a path on this site: `//evil.example`, `/\\evil` and absolute URLs go home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/console"
    if any(c in target for c in "\r\n\t"):
        return "/console"
    return target


async def optional_session(request: Request, pool: PoolDep) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with pool.acquire() as conn:
        return await service.session_for(conn, token)


async def require_session(
    request: Request, session: Annotated[Session | None, Depends(optional_session)]
) -> Session:
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return session


async def require_admin(
    request: Request,
    pool: PoolDep,
    session: Annotated[Session | None, Depends(optional_session)],
    api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
) -> Principal:
    """An admin API key (`X-API-Key`) or a signed-in admin; 401 without either, 403 for
    an agent. A session changing state must also send its CSRF token in `X-CSRF-Token`."""
    principal: Principal | None = None
    if api_key:
        async with pool.acquire() as conn:
            principal = await service.principal_for_key(conn, api_key)
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
    elif session is not None:
        if request.method not in SAFE_METHODS and not service.csrf_matches(
            session, request.headers.get("X-CSRF-Token")
        ):
            raise Forbidden("missing or wrong X-CSRF-Token")
        principal = Principal(session.user.role, f"user:{session.user.id}", session)
    if principal is None:
        raise Unauthorized("an X-API-Key header or a console session is required")
    if not principal.is_admin:
        raise Forbidden("admin role required")
    return principal


async def require_form_csrf(
    session: Annotated[Session, Depends(require_session)],
    csrf: Annotated[str | None, Form(max_length=200)] = None,
) -> Session:
    """A signed-in person posting a console form that carries their CSRF token; 403 without."""
    if not service.csrf_matches(session, csrf):
        raise Forbidden("missing or wrong CSRF token")
    return session


SessionDep = Annotated[Session, Depends(require_session)]
# For every state-changing console form.
FormSessionDep = Annotated[Session, Depends(require_form_csrf)]
AdminDep = Annotated[Principal, Depends(require_admin)]


class KeyRateLimited(FteError):
    """An API key past its requests for this minute: 429 with `Retry-After` and the
    `RateLimit-*` headers."""

    status_code = 429

    def __init__(self, headers: dict[str, str]):
        super().__init__("rate limit exceeded", detail={"retry_after": int(headers["Retry-After"])})
        self.headers = headers


async def _principal(pool: PoolDep, session: Session | None, api_key: str | None) -> Principal:
    if api_key:
        async with pool.acquire() as conn:
            principal = await service.principal_for_key(conn, api_key)
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
        return principal
    if session is not None:
        # The scoped API only reads; a session is a person signed in to the console.
        return Principal(session.user.role, f"user:{session.user.id}", session)
    raise Unauthorized("an X-API-Key header or a console session is required")


async def _limit_key(
    request: Request, response: Response, settings: SettingsDep, principal: Principal
) -> None:
    response.headers.update(
        await count_key_request(request.app.state.cache, principal, settings.api_key_rate_limit)
    )


async def count_key_request(
    cache: Cache, principal: Principal, default_limit: int
) -> dict[str, str]:
    """Count the request against the key's minute (the REST API's and /mcp's alike): the IETF
    `RateLimit-*` headers for the answer; KeyRateLimited (with `Retry-After`) past the limit."""
    limit = principal.rate_limit if principal.rate_limit is not None else default_limit
    if principal.key_id is None or limit <= 0:
        return {}
    hits, reset = await cache.count(f"apikey:{principal.key_id}", RATE_WINDOW_SECONDS)
    seconds = max(1, math.ceil(reset))
    headers = {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(max(0, limit - hits)),
        "RateLimit-Reset": str(seconds),
    }
    if hits > limit:
        raise KeyRateLimited({**headers, "Retry-After": str(seconds)})
    return headers


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the API key (`X-API-Key`) or console session holding `scope` (an admin
    holds all); 401 without either, 403 naming the missing scope, 429 past the key's rate."""

    async def check(
        request: Request,
        response: Response,
        pool: PoolDep,
        settings: SettingsDep,
        session: Annotated[Session | None, Depends(optional_session)],
        api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> Principal:
        principal = await _principal(pool, session, api_key)
        if not principal.allows(scope):
            who = "key" if principal.key_id is not None else "user"
            raise Forbidden(f"this {who} lacks the {scope} scope", detail={"missing_scope": scope})
        await _limit_key(request, response, settings, principal)
        return principal

    SCOPE_CHECKS[check] = scope
    return check


# Each require_scope dependency and its scope: the OpenAPI document lists their answers.
SCOPE_CHECKS: dict[Callable[..., Awaitable[Principal]], str] = {}


CustomersReader = Annotated[Principal, Depends(require_scope("customers:read"))]
TicketsReader = Annotated[Principal, Depends(require_scope("tickets:read"))]
AdminScope = Annotated[Principal, Depends(require_scope("admin"))]
