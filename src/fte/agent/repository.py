"""SQL for agent runs: one per inbound message, the record of what the agent decided and why."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from fte.db import vector_literal


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
    summary: str | None,
    sentiment: str | None,
    latency_ms: float,
    model: str,
    worker: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cost_usd: float | None,
    fallback_reason: str | None,
    query_embedding: Sequence[float] | None = None,
) -> uuid.UUID | None:
    """The new run's id, or None when this message already has a run (it was handled)."""
    return await conn.fetchval(
        """
        INSERT INTO agent_runs (message_id, ticket_id, decision, reason, confidence, sources,
                                draft, summary, sentiment, latency_ms, model, worker,
                                prompt_tokens, completion_tokens, cost_usd, fallback_reason,
                                query_embedding)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                $17::vector)
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
        summary,
        sentiment,
        latency_ms,
        model,
        worker,
        prompt_tokens,
        completion_tokens,
        cost_usd,
        fallback_reason,
        vector_literal(query_embedding) if query_embedding is not None else None,
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


async def draft_of(conn: asyncpg.Connection, run_id: uuid.UUID, ticket_id: uuid.UUID) -> str | None:
    """The draft an agent run of this ticket left for a person, None when there is none."""
    draft: str | None = await conn.fetchval(
        "SELECT draft FROM agent_runs WHERE id = $1 AND ticket_id = $2 AND draft IS NOT NULL",
        run_id,
        ticket_id,
    )
    return draft


async def answered_before(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    message_id: uuid.UUID,
    article_id: uuid.UUID,
    days: int,
) -> bool:
    """Did the agent answer this customer with this article (another message) recently?"""
    if days <= 0:
        return False
    found = await conn.fetchval(
        """
        SELECT 1 FROM agent_runs r JOIN tickets t ON t.id = r.ticket_id
        WHERE t.customer_id = $1 AND r.message_id <> $2 AND r.decision = 'answer'
          AND r.sources -> 0 ->> 'article_id' = $3
          AND r.created_at > now() - make_interval(days => $4)
        LIMIT 1
        """,
        customer_id,
        message_id,
        str(article_id),
        days,
    )
    return found is not None


async def latest_sentiment_model_id(conn: asyncpg.Connection) -> int | None:
    """The id of the newest trained sentiment model, if any."""
    return await conn.fetchval("SELECT max(id) FROM sentiment_models")


async def ticket_answered_before(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, message_id: uuid.UUID
) -> bool:
    """Did the agent already answer another message of this ticket?"""
    found = await conn.fetchval(
        "SELECT 1 FROM agent_runs WHERE ticket_id = $1 AND message_id <> $2 "
        "AND decision = 'answer' LIMIT 1",
        ticket_id,
        message_id,
    )
    return found is not None


async def lock_draft(
    conn: asyncpg.Connection, run_id: uuid.UUID, ticket_id: uuid.UUID
) -> asyncpg.Record | None:
    """The run's draft and whether it was published, locked until the transaction ends, so
    two approvals at once publish it once. None when the run left no draft on this ticket."""
    return await conn.fetchrow(
        """
        SELECT id, draft, reply_message_id FROM agent_runs
        WHERE id = $1 AND ticket_id = $2 AND draft IS NOT NULL
        FOR UPDATE
        """,
        run_id,
        ticket_id,
    )


async def draft_noted(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, note_external_id: str | None = None
) -> uuid.UUID | None:
    """The agent run whose draft was posted as a private note on this ticket: the note with
    this provider id, or the latest one."""
    run_id: str | None = await conn.fetchval(
        """
        SELECT metadata->>'agent_run_id' FROM messages
        WHERE ticket_id = $1 AND direction = 'outbound' AND metadata->>'private' = 'true'
          AND metadata ? 'agent_run_id' AND ($2::text IS NULL OR external_id = $2)
        ORDER BY created_at DESC, id DESC LIMIT 1
        """,
        ticket_id,
        note_external_id,
    )
    return uuid.UUID(run_id) if run_id else None
