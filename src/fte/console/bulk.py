"""Bulk actions in the inbox: one choice applied to the tickets ticked in the list — assign
them (to a teammate or back to the agent), set their status, or their priority — each change
audited as if made on the ticket's own page."""

from __future__ import annotations

import uuid
from typing import Annotated, Final, Literal

import asyncpg
from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from fte.auth.dependencies import FormSessionDep
from fte.console import queries
from fte.console.tickets import PRIORITIES
from fte.db import PoolDep, transaction
from fte.errors import NotFound
from fte.tickets import repository, service

router = APIRouter()

# A page of the inbox at most: a bulk action is for what a person can see and tick.
MAX_TICKETS: Final = 200
Action = Literal["assign", "status", "priority"]


def _back(done: str, count: int = 0) -> Response:
    # The inbox confirms with a fixed sentence per key (`?done=`): nothing typed is echoed.
    return RedirectResponse(f"/console?done={done}&count={count}", status_code=303)


@router.post("/console/inbox/bulk", include_in_schema=False)
async def bulk(
    pool: PoolDep,
    session: FormSessionDep,
    action: Annotated[Action, Form()],
    value: Annotated[str, Form(max_length=64)],
    ticket: Annotated[list[uuid.UUID] | None, Form(max_length=MAX_TICKETS)] = None,
) -> Response:
    """Apply `action` = `value` to every ticked ticket, in one transaction."""
    tickets = list(dict.fromkeys(ticket or []))
    if not tickets:
        return _back("bulk-none")
    actor = f"user:{session.user.id}"
    async with transaction(pool) as conn:
        if action == "assign":
            known, assignee = await _assignee(conn, value, session.user.id)
            if not known:
                return _back("bulk-invalid")
            for ticket_id in tickets:
                try:
                    await service.assign(conn, ticket_id, assignee, actor=actor)
                except NotFound:
                    continue  # deleted meanwhile: the others still change
        else:
            allowed = queries.STATUSES if action == "status" else PRIORITIES
            if value not in allowed:
                return _back("bulk-invalid")
            for ticket_id in tickets:
                current = await repository.get_ticket(conn, ticket_id)
                if current is None:
                    continue
                status = value if action == "status" else current["status"]
                priority = value if action == "priority" else current["priority"]
                await service.change(conn, ticket_id, status, priority, actor=actor)
    return _back("bulk-done", len(tickets))


async def _assignee(
    conn: asyncpg.Connection, value: str, me: uuid.UUID
) -> tuple[bool, uuid.UUID | None]:
    """(known, user): `me`, `nobody` (back to the agent) or a teammate's id; known is False
    when `value` names nobody who can be assigned."""
    if value == "me":
        return True, me
    if value == "nobody":
        return True, None
    try:
        user_id = uuid.UUID(value)
    except ValueError:
        return False, None
    return any(u["id"] == user_id for u in await queries.teammates(conn)), user_id
