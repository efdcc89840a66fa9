"""Internal notes on a ticket: what people tell each other about it. A note is stored beside the
conversation, never as a message, so no delivery path can ever send it to the customer."""

from __future__ import annotations

import uuid
from typing import Final

import asyncpg

from fte.auth.repository import audit
from fte.errors import FteError, NotFound
from fte.tickets import notes_repository, repository

MAX_NOTE_CHARS: Final = 20_000


async def add_note(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    author: str,
    body: str,
    *,
    actor: str | None = None,
) -> int:
    """Add a note by `author` (a person's name, or a program's) to the ticket, audited as
    `ticket.note` by `actor` (the author when None); returns its id. 422 naming `body` when it
    is empty or too long."""
    text = body.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        reason = "empty" if not text else f"longer than {MAX_NOTE_CHARS} characters"
        raise FteError(
            "invalid request", detail=[{"field": "body", "reason": reason}], status_code=422
        )
    if await repository.get_ticket(conn, ticket_id) is None:
        raise NotFound("ticket not found")
    row = await notes_repository.insert_note(conn, ticket_id, author, text)
    note_id: int = row["id"]
    await audit(conn, actor or author, "ticket.note", ticket_id, {"note_id": note_id})
    return note_id
