"""Internal notes: what staff write on a ticket for each other, never for the customer."""

from __future__ import annotations

import uuid
from typing import Any, Final

import asyncpg

from fte.auth import repository as audit_log
from fte.errors import FteError
from fte.tickets import notes_repository as repo

MAX_NOTE_CHARS: Final = 10_000


class NoteRejected(FteError):
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
    conn: asyncpg.Connection, ticket_id: uuid.UUID, author: str, body: str
) -> dict[str, Any]:
    """Write a note on the ticket and audit who wrote it; the note, JSON-ready."""
    text = body.strip()
    if not text:
        raise NoteRejected("body: a note needs some text", detail={"field": "body"})
    if len(text) > MAX_NOTE_CHARS:
        raise NoteRejected(f"body: at most {MAX_NOTE_CHARS} characters", detail={"field": "body"})
    try:
        row = await repo.insert_note(conn, ticket_id, author, text)
    except asyncpg.ForeignKeyViolationError:
        raise NoteRejected(f"ticket {ticket_id} does not exist", status_code=404) from None
    await audit_log.audit(conn, author, "ticket.note", ticket_id, {"note_id": row["id"]})
    return _json(row)


async def notes_json(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[dict[str, Any]]:
    """A ticket's notes, oldest first, JSON-ready."""
    return [_json(r) for r in await repo.list_notes(conn, ticket_id)]
