"""The PostgreSQL queue: workers claim outbox rows with FOR UPDATE SKIP LOCKED under a lease.

A claim sets a lease; a worker that dies leaves its rows to be claimed again once the lease has
expired. Only the oldest unprocessed row of a key (a conversation) can be claimed, so one
conversation is handled in order, whatever the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from fte.kit.metrics import DEAD_LETTERS

NOTIFY_CHANNEL = "fte_outbox"


@dataclass(frozen=True)
class Job:
    """A claimed outbox row."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    attempts: int


_CLAIM = """
WITH candidates AS (
    SELECT o.id FROM outbox o
    WHERE o.topic = $1 AND o.processed_at IS NULL AND o.available_at <= now()
      AND (o.lease_until IS NULL OR o.lease_until < now())
      AND NOT EXISTS (
          SELECT 1 FROM outbox p
          WHERE p.key = o.key AND p.processed_at IS NULL AND p.id < o.id
      )
    ORDER BY o.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox o
SET claimed_by = $3, lease_until = now() + make_interval(secs => $4), attempts = o.attempts + 1
FROM candidates c WHERE o.id = c.id
RETURNING o.id, o.topic, o.key, o.payload, o.attempts
"""


async def claim(
    conn: asyncpg.Connection, topic: str, worker: str, limit: int, lease_seconds: float
) -> list[Job]:
    """Claim up to `limit` ready rows for this worker, oldest first."""
    rows = await conn.fetch(_CLAIM, topic, limit, worker, lease_seconds)
    return [
        Job(
            id=r["id"], topic=r["topic"], key=r["key"], payload=r["payload"], attempts=r["attempts"]
        )
        for r in sorted(rows, key=lambda r: r["id"])
    ]


def complete_sql(job_id_param: str) -> str:
    """The statement that marks a row processed, for a statement that commits a job's effects
    and its completion at once (`complete_with`, the agent's decision)."""
    return (
        "UPDATE outbox SET processed_at = now(), lease_until = NULL, last_error = NULL "
        f"WHERE id = {job_id_param}"
    )


async def complete(conn: asyncpg.Connection, job_id: int) -> None:
    """Mark the row processed; commit it in the same transaction as the job's effects."""
    await conn.execute(complete_sql("$1"), job_id)


async def complete_with(conn: asyncpg.Connection, job_id: int, effect: str, *args: Any) -> None:
    """Apply the job's effect and mark the row processed in one statement: one round trip, and
    atomic without a transaction. `effect` is one data-modifying statement whose parameters
    are numbered from $2."""
    await conn.execute(f"WITH effect AS ({effect}) {complete_sql('$1')}", job_id, *args)


async def retry_later(conn: asyncpg.Connection, job: Job, error: str, delay_seconds: float) -> None:
    """Release the row so it is claimed again after `delay_seconds`."""
    await conn.execute(
        """
        UPDATE outbox
        SET lease_until = NULL, claimed_by = NULL, last_error = $2,
            available_at = now() + make_interval(secs => $3)
        WHERE id = $1
        """,
        job.id,
        error[:4000],
        delay_seconds,
    )


async def postpone(conn: asyncpg.Connection, job: Job, reason: str, delay_seconds: float) -> None:
    """Release the row for later without counting this claim as an attempt (the job never
    ran, e.g. because its channel's circuit breaker is open)."""
    await conn.execute(
        """
        UPDATE outbox
        SET lease_until = NULL, claimed_by = NULL, last_error = $2, attempts = attempts - 1,
            available_at = now() + make_interval(secs => $3)
        WHERE id = $1
        """,
        job.id,
        reason[:4000],
        delay_seconds,
    )


async def dead_letter(conn: asyncpg.Connection, job: Job, error: str) -> int:
    """Take the row out of the queue into dead_letters, where it is visible and replayable."""
    await conn.execute(
        "UPDATE outbox SET processed_at = now(), lease_until = NULL, last_error = $2 WHERE id = $1",
        job.id,
        error[:4000],
    )
    dead_id: int = await conn.fetchval(
        """
        INSERT INTO dead_letters (outbox_id, topic, key, payload, error, attempts)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6) RETURNING id
        """,
        job.id,
        job.topic,
        job.key,
        job.payload,
        error[:4000],
        job.attempts,
    )
    DEAD_LETTERS.labels(job.topic).inc()
    return dead_id


async def stats(conn: asyncpg.Connection) -> dict[str, Any]:
    """Queue depth, the oldest waiting row's age, and dead letters not yet replayed."""
    row = await conn.fetchrow(
        """
        SELECT
            (SELECT count(*) FROM outbox WHERE processed_at IS NULL) AS depth,
            (SELECT EXTRACT(EPOCH FROM now() - min(created_at)) FROM outbox
              WHERE processed_at IS NULL) AS oldest_age_seconds,
            (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL) AS dead_letters
        """
    )
    assert row is not None
    age = row["oldest_age_seconds"]
    return {
        "backend": "postgres",
        "depth": int(row["depth"]),
        "oldest_age_seconds": round(float(age), 3) if age is not None else 0.0,
        "dead_letters": int(row["dead_letters"]),
    }


async def still_open(conn: asyncpg.Connection, ids: list[int]) -> set[int]:
    """Of these rows, those not processed yet (a record delivered again finds its row done)."""
    rows = await conn.fetch(
        "SELECT id FROM outbox WHERE id = ANY($1::bigint[]) AND processed_at IS NULL", ids
    )
    return {r["id"] for r in rows}
