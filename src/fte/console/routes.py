"""The support console's pages: sign in, sign out, the inbox; and the admin API."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from fte.auth import service
from fte.auth.dependencies import (
    SESSION_COOKIE,
    AdminDep,
    FormSessionDep,
    LoginRequired,
    SessionDep,
    login_url,
    safe_next,
)
from fte.auth.repository import audit
from fte.auth.service import RateLimited
from fte.bus import dead_letters
from fte.config import Settings, SettingsDep
from fte.console import bulk, dashboard, error_pages, knowledge, queries, workspace
from fte.console import customers as customer_pages
from fte.console import macros as macro_pages
from fte.console import priority_rules as priority_rule_pages
from fte.console import tickets as ticket_pages
from fte.console.templates_env import templates
from fte.console.tickets import PRIORITIES
from fte.db import PoolDep, transaction
from fte.errors import NotFound
from fte.kit import secrets as secret
from fte.kit.metrics import LOGIN_FAILURES

LOGIN_CSRF_COOKIE: Final = "fte_login_csrf"
STATIC: Final = Path(__file__).parent / "static"

router = APIRouter(tags=["console"])
log = logging.getLogger(__name__)


def _secure(request: Request, settings: Settings) -> bool:
    return str(settings.base_url).startswith("https://") or request.url.scheme == "https"


def _login_page(
    request: Request, settings: Settings, next_path: str, error: str | None, status: int
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": csrf, "next": next_path, "error": error, "company": settings.company_name},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request, settings),
        path="/console/login",
    )
    return response


def _refused(reason: str, account: str, client: str) -> None:
    # Never the password; %r keeps a hostile email on one log line.
    log.warning("sign-in refused (%s) for %r from %s", reason, account, client)
    LOGIN_FAILURES.labels(reason).inc()


@router.get("/console/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(
    request: Request, settings: SettingsDep, next: Annotated[str | None, Query()] = None
) -> HTMLResponse:
    return _login_page(request, settings, safe_next(next), None, 200)


@router.post("/console/login", include_in_schema=False)
async def login(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=200)],
    next: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    target = safe_next(next)
    account = email.strip().lower()
    client = request.client.host if request.client else "unknown"
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secret.equal(csrf, cookie):
        _refused("csrf", account, client)
        return _login_page(request, settings, target, "The form expired; sign in again.", 403)
    limit = settings.login_rate_limit
    try:
        async with transaction(pool) as conn:
            await service.admit_sign_in(conn, account, client, limit)
    except service.SignInLimited as exc:
        _refused(exc.reason, account, client)
        raise
    async with transaction(pool) as conn:
        user = await service.authenticate(conn, email, password)
        await service.record_sign_in(conn, account, client, user is not None, limit)
        if user is None:
            _refused("credentials", account, client)
            return _login_page(request, settings, target, "Wrong email or password.", 401)
        # Always a new token: a session id planted before sign-in is worth nothing after it.
        new = await service.start_session(conn, user, timedelta(hours=settings.session_hours))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/console/logout", include_in_schema=False)
async def logout(request: Request, pool: PoolDep, session: FormSessionDep) -> Response:
    async with transaction(pool) as conn:
        await service.end_session(conn, request.cookies[SESSION_COOKIE], session.user)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _inbox(
    request: Request,
    template: str,
    pool: PoolDep,
    settings: Settings,
    session: SessionDep,
    filters: InboxFilter,
) -> HTMLResponse:
    status = filters.status if filters.status in queries.STATUSES else None
    approval = filters.status == queries.APPROVAL
    assignee = filters.assignee if filters.assignee in queries.ASSIGNEES else None
    q = filters.q
    async with pool.acquire() as conn:
        tickets = await queries.inbox(
            conn,
            status,
            q.strip() if q else None,
            settings.sla_minutes,
            assignee=session.user.id if assignee == "me" else None,
            unassigned=assignee == "nobody",
            awaiting_approval=approval,
        )
        users = await queries.teammates(conn) if template == "inbox.html" else []
    return templates.TemplateResponse(
        request,
        template,
        {
            "session": session,
            "tickets": tickets,
            "status": queries.APPROVAL if approval else status,
            "q": q or "",
            "assignee": assignee or "",
            "statuses": queries.STATUSES,
            "priorities": PRIORITIES,
            "users": users,
            "flash": _flash(filters.done, filters.count),
        },
    )


def _flash(done: str | None, count: int) -> str | None:
    """The sentence confirming what a bulk action did (a fixed text: nothing is echoed)."""
    if done == "bulk-done":
        return f"Changed {count} ticket{'' if count == 1 else 's'}."
    return {
        "bulk-none": "Tick at least one ticket first: nothing changed.",
        "bulk-invalid": "That choice is no longer available: nothing changed.",
    }.get(done or "")


@dataclass
class InboxFilter:
    """The inbox's query: status, text, and `me` / `nobody` for the assignee; `done` and
    `count` confirm a bulk action."""

    status: Annotated[str | None, Query()] = None
    q: Annotated[str | None, Query(max_length=200)] = None
    assignee: Annotated[str | None, Query(description="me or nobody")] = None
    done: Annotated[str | None, Query(max_length=32)] = None
    count: Annotated[int, Query(ge=0, le=10_000)] = 0


InboxFilterDep = Annotated[InboxFilter, Depends()]


@router.get("/console", response_class=HTMLResponse, include_in_schema=False)
async def inbox(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    session: SessionDep,
    filters: InboxFilterDep,
) -> HTMLResponse:
    return await _inbox(request, "inbox.html", pool, settings, session, filters)


@router.get("/console/inbox/rows", response_class=HTMLResponse, include_in_schema=False)
async def inbox_rows(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    session: SessionDep,
    filters: InboxFilterDep,
) -> HTMLResponse:
    """The inbox's rows alone: the page polls this to stay current."""
    return await _inbox(request, "_inbox_rows.html", pool, settings, session, filters)


@router.get("/api/admin/dead-letters", tags=["admin"])
async def list_dead_letters(pool: PoolDep, _: AdminDep) -> list[dict[str, Any]]:
    """Jobs that failed every attempt and wait for a replay."""
    async with pool.acquire() as conn:
        rows = await dead_letters.list_open(conn)
    return [{**dict(r), "created_at": r["created_at"].isoformat()} for r in rows]


@router.post("/api/admin/dead-letters/{dead_letter_id}/replay", tags=["admin"])
async def replay_dead_letter(
    dead_letter_id: Annotated[int, PathParam(ge=1, le=dead_letters.MAX_ID)],
    pool: PoolDep,
    principal: AdminDep,
) -> dict[str, Any]:
    """Queue a dead letter's job again; 404 when there is no such open dead letter."""
    async with transaction(pool) as conn:
        replayed = await dead_letters.replay(conn, dead_letter_id)
        if replayed:
            await audit(conn, principal.actor, "dead_letter.replay", detail={"id": dead_letter_id})
    if not replayed:
        raise NotFound(f"no open dead letter {dead_letter_id}")
    return {"replayed": dead_letter_id}


def install(app: FastAPI) -> None:
    """Mount the console and send page requests without a session to the sign-in page."""
    app.include_router(router)
    app.include_router(ticket_pages.router)
    app.include_router(bulk.router)
    app.include_router(workspace.router)
    app.include_router(macro_pages.router)
    app.include_router(customer_pages.router)
    app.include_router(priority_rule_pages.router)
    app.include_router(dashboard.router)
    app.include_router(knowledge.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    error_pages.install(app)

    @app.exception_handler(LoginRequired)
    async def _login_required(_: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(RateLimited)
    async def _rate_limited(request: Request, exc: RateLimited) -> Response:
        headers = {"Retry-After": str(exc.retry_after)}
        if not error_pages.is_console_page(request):
            return JSONResponse(
                {"error": exc.message, "detail": {"retry_after": exc.retry_after}},
                status_code=429,
                headers=headers,
            )
        page = error_pages.error_page(request, 429, "Too many attempts. Try again in a minute.")
        page.headers.update(headers)
        return page
