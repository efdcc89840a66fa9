"""The canned replies page: everyone reads them; admins create, edit and delete them, audited."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fte.auth.dependencies import Forbidden, FormSessionDep, SessionDep
from fte.auth.schemas import Session
from fte.console.templates_env import templates
from fte.db import PoolDep, transaction
from fte.desk import macros
from fte.desk import repository as desk_repository

router = APIRouter(tags=["console"])
MacroId = Annotated[int, PathParam(ge=1, le=2**62)]
FLASHES: Final = {
    "created": "Macro created.",
    "updated": "Macro saved.",
    "deleted": "Macro deleted.",
}


def _admin(session: Session) -> str:
    if session.user.role != "admin":
        raise Forbidden("admin role required")
    return f"user:{session.user.id}"


def _done(key: str) -> RedirectResponse:
    return RedirectResponse(f"/console/macros?done={key}", status_code=303)


@router.get("/console/macros", response_class=HTMLResponse, include_in_schema=False)
async def macro_list(
    request: Request,
    pool: PoolDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    async with pool.acquire() as conn:
        rows = await desk_repository.list_macros(conn)
    return templates.TemplateResponse(
        request,
        "macros.html",
        {
            "session": session,
            "macros": rows,
            "can_edit": session.user.role == "admin",
            "placeholders": macros.PLACEHOLDERS,
            "flash": FLASHES.get(done or ""),
        },
    )


@router.post("/console/macros", include_in_schema=False)
async def macro_create(
    pool: PoolDep,
    session: FormSessionDep,
    name: Annotated[str, Form(max_length=macros.MAX_NAME_CHARS + 1)] = "",
    body: Annotated[str, Form(max_length=macros.MAX_BODY_CHARS + 1)] = "",
) -> Response:
    actor = _admin(session)
    async with transaction(pool) as conn:
        await macros.create(conn, macros.MacroForm(name, body), actor=actor)
    return _done("created")


@router.post("/console/macros/{macro_id}", include_in_schema=False)
async def macro_update(
    macro_id: MacroId,
    pool: PoolDep,
    session: FormSessionDep,
    name: Annotated[str, Form(max_length=macros.MAX_NAME_CHARS + 1)] = "",
    body: Annotated[str, Form(max_length=macros.MAX_BODY_CHARS + 1)] = "",
) -> Response:
    actor = _admin(session)
    async with transaction(pool) as conn:
        await macros.update(conn, macro_id, macros.MacroForm(name, body), actor=actor)
    return _done("updated")


@router.post("/console/macros/{macro_id}/delete", include_in_schema=False)
async def macro_delete(macro_id: MacroId, pool: PoolDep, session: FormSessionDep) -> Response:
    actor = _admin(session)
    async with transaction(pool) as conn:
        await macros.delete(conn, macro_id, actor=actor)
    return _done("deleted")
