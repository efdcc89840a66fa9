"""Team work on a ticket page: internal notes, who else has the ticket open (presence, which
also tells the page when the ticket changed so it refreshes itself), and canned replies filled
for the ticket."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Form
from fastapi import Path as PathParam
from fastapi.responses import Response

from fte.auth.dependencies import FormSessionDep, SessionDep
from fte.console import queries
from fte.console.tickets import back
from fte.db import PoolDep, transaction
from fte.desk import macros, presence
from fte.errors import NotFound
from fte.tickets import notes
from fte.tickets import repository as tickets

router = APIRouter(tags=["console"])


@router.post("/console/tickets/{ticket_id}/notes", include_in_schema=False)
async def add_note(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    body: Annotated[str, Form(max_length=notes.MAX_NOTE_CHARS + 1)] = "",
) -> Response:
    """An internal note: shown to the team in the conversation, never sent to the customer."""
    async with transaction(pool) as conn:
        await notes.add_note(
            conn, ticket_id, session.user.name, body, actor=f"user:{session.user.id}"
        )
    return back(ticket_id, "noted")


async def _ticket(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record:
    ticket = await tickets.get_ticket(conn, ticket_id)
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


@router.post("/console/tickets/{ticket_id}/presence", include_in_schema=False)
async def beat(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    replying: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """The open page's heartbeat: who else is on the ticket now ("Bea is replying"), and the
    ticket's version, so the page refreshes itself when anything on it changed."""
    async with transaction(pool) as conn:
        await _ticket(conn, ticket_id)
        others = await presence.beat(conn, ticket_id, session.user.id, replying=replying)
        version = await queries.ticket_version(conn, ticket_id)
    return {"present": [p.sentence for p in others], "version": version}


@router.post("/console/tickets/{ticket_id}/presence/leave", include_in_schema=False)
async def leave(ticket_id: uuid.UUID, pool: PoolDep, session: FormSessionDep) -> Response:
    """The page was closed (sent as a beacon)."""
    async with transaction(pool) as conn:
        await presence.leave(conn, ticket_id, session.user.id)
    return Response(status_code=204)


@router.get("/console/tickets/{ticket_id}/macros/{macro_id}", include_in_schema=False)
async def macro_text(
    ticket_id: uuid.UUID,
    macro_id: Annotated[int, PathParam(ge=1, le=2**62)],
    pool: PoolDep,
    session: SessionDep,
) -> dict[str, str]:
    """A canned reply filled for this ticket (customer name, ticket number, your name)."""
    async with pool.acquire() as conn:
        ticket = await _ticket(conn, ticket_id)
        values = macros.values_for(ticket["customer_name"], ticket["number"], session.user.name)
        return {"text": await macros.text_for(conn, macro_id, values)}
