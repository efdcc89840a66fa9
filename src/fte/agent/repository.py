"""SQL for agent runs: one per inbound message, the record of what the agent decided and why."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def insert_run(
    conn: asyncpg.Connection,
    *,
    message_id: uuid.UUID,
    ticket_id: uuid.UUID,
    decision: str,
    reason: str | None,
    confidence: float,
    sources: list[dict[str, Any]],
    draft: str | None,
    latency_ms: float,
    model: str,
    worker: str,
) -> uuid.UUID | None:
    """The new run's id, or None when this message already has a run (it was handled)."""
    return await conn.fetchval(
        """
        INSERT INTO agent_runs (message_id, ticket_id, decision, reason, confidence, sources,
                                draft, latency_ms, model, worker)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
        ON CONFLICT (message_id) DO NOTHING
        RETURNING id
        """,
        message_id,
        ticket_id,
        decision,
        reason,
        confidence,
        sources,
        draft,
        latency_ms,
        model,
        worker,
    )


async def set_reply(conn: asyncpg.Connection, run_id: uuid.UUID, reply_id: uuid.UUID) -> None:
    """Link the run to the message it sent."""
    await conn.execute(
        "UPDATE agent_runs SET reply_message_id = $2 WHERE id = $1", run_id, reply_id
    )


async def runs_for_ticket(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    """A ticket's agent runs, oldest first."""
    return await conn.fetch(
        "SELECT * FROM agent_runs WHERE ticket_id = $1 ORDER BY created_at", ticket_id
    )
