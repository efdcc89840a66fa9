"""SQL for a ticket's internal notes: written by people for people, never sent to the customer."""

from __future__ import annotations

import uuid

import asyncpg


async def insert_note(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, author: str, body: str
) -> asyncpg.Record:
    """Store a note; the row as stored."""
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
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, ticket_id, author, body, created_at FROM ticket_notes WHERE ticket_id = $1 "
        "ORDER BY created_at, id",
        ticket_id,
    )
    return rows
