"""Stuck messages: a customer's message on an open ticket that no agent run answered, whose
queue row is still waiting long after it was filed. SQL for the doctor's check and the worker's
re-drive job, so both mean the same thing by "stuck".

A message a person has (an assigned ticket), or that was filed silently, has its row processed
without an agent run: it is not stuck. The number of re-drives is kept in the row's payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

_STUCK = """
SELECT m.id AS message_id, t.id AS ticket_id, t.number AS ticket_number, o.id AS outbox_id,
       o.topic, o.key, o.payload, o.attempts,
       COALESCE((o.payload->>'redrives')::int, 0) AS redrives,
       EXTRACT(EPOCH FROM now() - m.created_at) AS age_seconds
FROM messages m
JOIN tickets t ON t.id = m.ticket_id
JOIN outbox o ON o.topic = 'inbound' AND o.processed_at IS NULL
             AND o.payload->>'message_id' = m.id::text
WHERE m.direction = 'inbound' AND m.author = 'customer'
  AND t.status = 'open' AND t.assignee_id IS NULL
  AND m.created_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (SELECT 1 FROM agent_runs r WHERE r.message_id = m.id)
ORDER BY m.created_at
LIMIT $2
"""


# One worker at a time re-drives, whatever the number of workers. The lock is per transaction,
# so a worker that dies frees it at once.
REDRIVE_LOCK_ID = 0x66746573


async def take_redrive_turn(conn: asyncpg.Connection) -> bool:
    """True when this transaction re-drives; call inside a transaction."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", REDRIVE_LOCK_ID)
    return taken


@dataclass(frozen=True)
class Stuck:
    """A stuck message and the queue row that should have brought it to the agent."""

    message_id: str
    ticket_id: str
    ticket_number: int
    outbox_id: int
    topic: str
    key: str
    payload: dict[str, object]
    attempts: int
    redrives: int
    age_seconds: float


async def stuck(conn: asyncpg.Connection, older_than_seconds: float, limit: int) -> list[Stuck]:
    """The oldest stuck messages first."""
    rows = await conn.fetch(_STUCK, older_than_seconds, limit)
    return [
        Stuck(
            message_id=str(r["message_id"]),
            ticket_id=str(r["ticket_id"]),
            ticket_number=r["ticket_number"],
            outbox_id=r["outbox_id"],
            topic=r["topic"],
            key=r["key"],
            payload=dict(r["payload"]),
            attempts=r["attempts"],
            redrives=r["redrives"],
            age_seconds=float(r["age_seconds"]),
        )
        for r in rows
    ]


async def release(conn: asyncpg.Connection, outbox_id: int) -> None:
    """Re-enqueue the row: claimable now (no backoff, no lease), published to Kafka again, its
    re-drives counted in its payload."""
    await conn.execute(
        """
        UPDATE outbox
        SET available_at = now(), lease_until = NULL, claimed_by = NULL, published_at = NULL,
            payload = jsonb_set(payload, '{redrives}',
                                to_jsonb(COALESCE((payload->>'redrives')::int, 0) + 1))
        WHERE id = $1 AND processed_at IS NULL
        """,
        outbox_id,
    )
    await conn.execute("SELECT pg_notify('fte_outbox', 'inbound')")
