"""SQL for agent runs: one per inbound message, the record of what the agent decided and why."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from fte.bus import postgres_queue as queue
from fte.tickets.priority_repository import raise_sql


@dataclass(frozen=True)
class StoredReply:
    """A message the decision sends; its id is chosen beforehand so that the run links to it
    in the same statement."""

    id: uuid.UUID
    body: str
    metadata: dict[str, Any]
    # The delivery job's payload; None where storing the reply is delivering it (stored sent).
    job: dict[str, Any] | None


@dataclass(frozen=True)
class TicketMove:
    """What the decision does to the ticket."""

    status: str
    escalation_reason: str | None
    responded: bool  # the first answer stamps first_response_at
    sentiment_score: float | None  # the message's (its label is the run's `sentiment`)
    sentiment_trend: str | None  # the ticket's, this message included
    # What the priority rules give the ticket now that its sentiment is known ("high",
    # "high: top 5% by value"): applied only when it raises a priority no person chose.
    priority: str | None = None
    priority_reason: str | None = None


# The agent's decision, written at once: the run (once per message: a redelivered job finds
# it and writes nothing else), the message's sentiment, the replies and their delivery jobs,
# the ticket moved, and the inbound job completed. One statement is atomic on its own, and one
# round trip where a transaction of single statements took nine.
_RUN_COLUMNS = (
    "id, message_id, ticket_id, decision, reason, confidence, sources, draft, summary, "
    "sentiment, latency_ms, model, worker, prompt_tokens, completion_tokens, cost_usd, "
    "fallback_reason, query_embedding, reply_message_id"
)
_RAISED = f"t.priority_set_by IS NULL AND {raise_sql('t.priority', '$32::text')}"
_RECORD_DECISION = f"""
WITH run AS (
    INSERT INTO agent_runs ({_RUN_COLUMNS})
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
            $18::vector, $19)
    ON CONFLICT (message_id) DO NOTHING
    RETURNING id, message_id, ticket_id
),
felt AS (
    UPDATE messages m SET sentiment = $10, sentiment_score = $20
    FROM run WHERE m.id = run.message_id AND $10::text IS NOT NULL
),
part AS (
    SELECT (p.value ->> 'id')::uuid AS id, p.value ->> 'body' AS body,
           p.value -> 'metadata' AS metadata, p.value -> 'job' AS job, p.n
    FROM run, jsonb_array_elements($21::jsonb) WITH ORDINALITY AS p(value, n)
),
reply AS (
    INSERT INTO messages (id, conversation_id, ticket_id, channel, direction, author, body,
                          delivery_status, metadata, sent_at)
    SELECT id, $22, $3, $23, 'outbound', 'agent', body,
           CASE WHEN job IS NULL THEN 'sent' ELSE 'queued' END, metadata,
           CASE WHEN job IS NULL THEN now() END
    FROM part
),
job AS (
    INSERT INTO outbox (topic, key, payload)
    SELECT $24, $25, job FROM part WHERE job IS NOT NULL ORDER BY n
    RETURNING id
),
moved AS (
    UPDATE tickets t
    SET status = $26,
        escalation_reason = COALESCE($27, t.escalation_reason),
        first_response_at = CASE WHEN $28 THEN COALESCE(t.first_response_at, now())
                                 ELSE t.first_response_at END,
        sentiment = COALESCE($10, t.sentiment),
        sentiment_trend = COALESCE($29, t.sentiment_trend),
        priority = CASE WHEN {_RAISED} THEN $32 ELSE t.priority END,
        priority_reason = CASE WHEN {_RAISED} THEN $33 ELSE t.priority_reason END,
        updated_at = now()
    FROM run WHERE t.id = run.ticket_id
),
done AS ({queue.complete_sql("$30")})
SELECT EXISTS (SELECT FROM run) AS recorded,
       (SELECT count(*) FROM (SELECT pg_notify($31, $24) FROM job LIMIT 1) AS woken) AS woken
"""


async def record_decision(
    conn: asyncpg.Connection,
    *,
    job_id: int,
    run: dict[str, Any],
    conversation_id: uuid.UUID,
    channel: str,
    replies: Sequence[StoredReply],
    delivery: tuple[str, str],
    ticket: TicketMove,
) -> bool:
    """Write the decision and complete its job (see above); False when the message had a run
    already, and only the job was completed. `run`: agent_runs' columns by name;
    `delivery`: the replies' topic and key."""
    row = await conn.fetchrow(
        _RECORD_DECISION,
        *(run[column] for column in _RUN_COLUMNS.split(", ")),
        ticket.sentiment_score,
        [
            {"id": str(r.id), "body": r.body, "metadata": r.metadata}
            | ({"job": r.job} if r.job is not None else {})
            for r in replies
        ],
        conversation_id,
        channel,
        *delivery,
        ticket.status,
        ticket.escalation_reason,
        ticket.responded,
        ticket.sentiment_trend,
        job_id,
        queue.NOTIFY_CHANNEL,
        ticket.priority,
        ticket.priority_reason,
    )
    assert row is not None
    return bool(row["recorded"])


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


async def answered_before(
    conn: asyncpg.Connection,
    wanted: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    days: int,
) -> set[uuid.UUID]:
    """Of (customer_id, message_id, article_id) triples, the messages whose customer the agent
    answered with that article (another message) in the last `days` days: one statement for
    a batch."""
    if days <= 0 or not wanted:
        return set()
    # Each customer's tickets first, then each one's answers: written as a join, PostgreSQL's
    # plan from a fresh install's empty tables scanned every answer of every customer, and a
    # connection kept that plan while the table grew.
    rows = await conn.fetch(
        """
        SELECT w.message_id
        FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS w(customer_id, message_id, article_id)
        WHERE EXISTS (
            SELECT 1 FROM tickets t
            CROSS JOIN LATERAL (
                SELECT 1 FROM agent_runs r
                WHERE r.ticket_id = t.id AND r.message_id <> w.message_id
                  AND r.decision = 'answer'
                  AND r.sources -> 0 ->> 'article_id' = w.article_id
                  AND r.created_at > now() - make_interval(days => $4)
                LIMIT 1
            ) answered
            WHERE t.customer_id = w.customer_id
        )
        """,
        [customer for customer, _, _ in wanted],
        [message for _, message, _ in wanted],
        [str(article) for _, _, article in wanted],
        days,
    )
    return {r["message_id"] for r in rows}


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
    """The run's draft and whether it was `published`, locked until the transaction ends, so
    two approvals at once publish it once. None when the run left no draft on this ticket.
    An escalation's reply is its holding note: its draft is published once a person sent it."""
    return await conn.fetchrow(
        """
        SELECT r.id, r.draft, r.reply_message_id,
               (r.reply_message_id IS NOT NULL
                AND (r.decision <> 'escalate' OR m.author = 'human')) AS published
        FROM agent_runs r LEFT JOIN messages m ON m.id = r.reply_message_id
        WHERE r.id = $1 AND r.ticket_id = $2 AND r.draft IS NOT NULL
        FOR UPDATE OF r
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
