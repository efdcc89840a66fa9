"""Internal notes on a ticket: what people (or an assistant over MCP) tell each other about it.
A note is stored beside the conversation, never as a message, so no delivery path can ever
send it to the customer."""

from __future__ import annotations

import uuid
from typing import Any, Final

import asyncpg

from fte.auth.repository import audit
from fte.errors import FteError, NotFound
from fte.tickets import notes_repository, repository

MAX_NOTE_CHARS: Final = 20_000


class NoteRejected(FteError):
    """An empty or too long note: 422 naming `body`."""

    status_code = 422


def _json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "ticket_id": str(row["ticket_id"]),
        "author": row["author"],
        "body": row["body"],
        "created_at": row["created_at"].isoformat(),
    }


async def add_note(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    author: str,
    body: str,
    *,
    actor: str | None = None,
) -> dict[str, Any]:
    """Add a note by `author` (a person's name, or a program's) to the ticket, audited as
    `ticket.note` by `actor` (the author when None); the note, JSON-ready."""
    text = body.strip()
    if not text or len(text) > MAX_NOTE_CHARS:
        reason = "empty" if not text else f"longer than {MAX_NOTE_CHARS} characters"
        raise NoteRejected(f"body: {reason}", detail=[{"field": "body", "reason": reason}])
    if await repository.get_ticket(conn, ticket_id) is None:
        raise NotFound("ticket not found")
    row = await notes_repository.insert_note(conn, ticket_id, author, text)
    await audit(conn, actor or author, "ticket.note", ticket_id, {"note_id": row["id"]})
    return _json(row)


async def notes_json(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[dict[str, Any]]:
    """A ticket's notes, oldest first, JSON-ready."""
    return [_json(r) for r in await notes_repository.list_notes(conn, ticket_id)]
