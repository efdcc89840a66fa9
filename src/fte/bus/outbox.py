"""Writing to the outbox: in the caller's transaction, so nothing is published for a rollback."""

from __future__ import annotations

from typing import Any

import asyncpg

from fte.bus.postgres_queue import NOTIFY_CHANNEL


async def enqueue(conn: asyncpg.Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
    """Queue a job; idle workers are woken when the transaction commits."""
    job_id: int = await conn.fetchval(
        "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3::jsonb) RETURNING id",
        topic,
        key,
        payload,
    )
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, topic)
    return job_id
