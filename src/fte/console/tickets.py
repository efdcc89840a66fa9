"""The console's ticket view: the conversation, the customer, the agent's runs, and the
changes a person makes (status, priority, resolve, close), each one audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fte.agent import repository as runs
from fte.auth.dependencies import FormSessionDep, SessionDep
from fte.auth.schemas import Session
from fte.console import customers, queries
from fte.console.templates_env import templates
from fte.db import PoolDep, transaction
from fte.desk import service as desk
from fte.errors import FteError, NotFound
from fte.tickets import repository as tickets
from fte.tickets import service

PRIORITIES: Final = ("low", "medium", "high", "urgent")
MAX_REPLY_CHARS: Final = 20_000

router = APIRouter(tags=["console"])


@router.get("/console/tickets/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
async def ticket_page(
    request: Request, ticket_id: uuid.UUID, pool: PoolDep, session: SessionDep
) -> HTMLResponse:
    async with pool.acquire() as conn:
        ticket = await tickets.get_ticket(conn, ticket_id)
        if ticket is None:
            raise NotFound("ticket not found")
        messages = await tickets.list_messages(conn, ticket_id)
        agent_runs = await runs.runs_for_ticket(conn, ticket_id)
        customer = await customers.panel(conn, ticket["customer_id"], exclude_ticket=ticket_id)
        assignee = (
            await queries.user_name(conn, ticket["assignee_id"]) if ticket["assignee_id"] else None
        )
    return templates.TemplateResponse(
        request,
        "ticket.html",
        {
            "session": session,
            "ticket": ticket,
            "messages": messages,
            "runs": agent_runs,
            "panel": customer,
            "assignee": assignee,
            "statuses": queries.STATUSES,
            "priorities": PRIORITIES,
        },
    )


@router.post("/console/tickets/{ticket_id}", include_in_schema=False)
async def change_ticket(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    status: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "",
) -> Response:
    """Status and priority from the form; 403 without the CSRF token, 422 naming a bad field."""
    for field, value, allowed in (
        ("status", status, queries.STATUSES),
        ("priority", priority, PRIORITIES),
    ):
        if value not in allowed:
            raise FteError(
                "invalid request",
                detail=[{"field": field, "reason": f"must be one of {', '.join(allowed)}"}],
                status_code=422,
            )
    async with transaction(pool) as conn:
        await service.change(conn, ticket_id, status, priority, actor=f"user:{session.user.id}")
    return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)


@router.post("/console/tickets/{ticket_id}/take-over", include_in_schema=False)
async def take_over(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
) -> Response:
    """The signed-in person takes the ticket: the agent answers nothing on it from now on."""
    return await _assign(ticket_id, pool, session, session.user.id)


@router.post("/console/tickets/{ticket_id}/hand-back", include_in_schema=False)
async def hand_back(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
) -> Response:
    """Back to the agent: it answers the customer's next message again."""
    return await _assign(ticket_id, pool, session, None)


async def _assign(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: Session,
    user_id: uuid.UUID | None,
) -> Response:
    async with transaction(pool) as conn:
        await service.assign(conn, ticket_id, user_id, actor=f"user:{session.user.id}")
    return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)


@router.post("/console/tickets/{ticket_id}/reply", include_in_schema=False)
async def reply(
    request: Request,
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    body: Annotated[str, Form(max_length=MAX_REPLY_CHARS)] = "",
    run_id: Annotated[uuid.UUID | None, Form()] = None,
) -> Response:
    """A person answers the customer on the ticket's channel, or with `run_id` approves that
    agent run's draft (as written or edited): `desk.service.reply`."""
    text = body.strip()
    if not text:
        raise FteError(
            "invalid request", detail=[{"field": "body", "reason": "empty"}], status_code=422
        )
    async with transaction(pool) as conn:
        await desk.reply(
            conn,
            ticket_id,
            request.app.state.adapters,
            user_id=session.user.id,
            text=text,
            run_id=run_id,
        )
    return RedirectResponse(f"/console/tickets/{ticket_id}", status_code=303)
