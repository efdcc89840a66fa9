"""SQL for a ticket's internal notes (never sent to the customer)."""

from __future__ import annotations

import uuid

import asyncpg


async def insert_note(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, author: str, body: str
) -> asyncpg.Record:
    """The new note's id, author, body and time."""
    row: asyncpg.Record = await conn.fetchrow(
        "INSERT INTO ticket_notes (ticket_id, author, body) VALUES ($1, $2, $3) "
        "RETURNING id, ticket_id, author, body, created_at",
        ticket_id,
        author,
        body,
    )
    return row


async def list_notes(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    """A ticket's notes, oldest first."""
    return await conn.fetch(
        "SELECT id, ticket_id, author, body, created_at FROM ticket_notes "
        "WHERE ticket_id = $1 ORDER BY created_at, id",
        ticket_id,
    )
