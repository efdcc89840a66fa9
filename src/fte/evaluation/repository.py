"""SQL for an evaluation: its scratch database on a server, and the outcomes read back."""

from __future__ import annotations

import uuid

import asyncpg


async def create_database(admin: asyncpg.Connection, name: str) -> None:
    """A new, empty database; `name` is ours (generated), never user input."""
    await admin.execute(f'CREATE DATABASE "{name}"')


async def drop_database(admin: asyncpg.Connection, name: str) -> None:
    """Drop the database, closing whatever is still connected to it."""
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def article_keys(conn: asyncpg.Connection) -> dict[uuid.UUID, str]:
    """Each knowledge base article's id → the key it was imported under."""
    rows = await conn.fetch("SELECT id, source_key FROM kb_articles")
    return {r["id"]: r["source_key"] for r in rows}


async def runs_by_message(conn: asyncpg.Connection) -> dict[uuid.UUID, asyncpg.Record]:
    """Each message's agent run: decision, reason, sources, confidence, latency, draft, the
    message's sentiment, and what the agent sent on its ticket (`reply`, parts joined)."""
    rows = await conn.fetch(
        """
        SELECT r.message_id, r.decision, r.reason, r.sources, r.confidence, r.latency_ms,
               r.draft, m.sentiment, m.sentiment_score,
               (SELECT string_agg(o.body, E'\n\n' ORDER BY o.created_at, o.id)
                  FROM messages o
                 WHERE o.ticket_id = r.ticket_id AND o.direction = 'outbound'
                   AND o.author = 'agent') AS reply
        FROM agent_runs r JOIN messages m ON m.id = r.message_id
        """
    )
    return {r["message_id"]: r for r in rows}
