"""Writing to the outbox: in the caller's transaction, so nothing is published for a rollback."""

from __future__ import annotations

from typing import Any

import asyncpg

from fte.bus.postgres_queue import NOTIFY_CHANNEL
from fte.kit import logging as trace


def job_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A job's payload as stored: it carries the request id in hand, so the logs of whoever
    handles the job name the same request."""
    return {**trace.carried(), **payload}


async def enqueue(conn: asyncpg.Connection, topic: str, key: str, payload: dict[str, Any]) -> int:
    """Queue a job; idle workers are woken when the transaction commits."""
    payload = job_payload(payload)
    job_id: int = await conn.fetchval(
        """
        WITH job AS (
            INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3::jsonb) RETURNING id
        )
        SELECT id FROM job, pg_notify($4, $1)
        """,
        topic,
        key,
        payload,
        NOTIFY_CHANNEL,
    )
    return job_id


# One relay at a time publishes, whatever the number of workers: two would interleave a
# conversation's rows. The lock is per transaction, so a relay that dies frees it at once.
RELAY_LOCK_ID = 0x66746572


async def take_relay_turn(conn: asyncpg.Connection) -> bool:
    """True when this transaction is the relay; call inside a transaction."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK_ID)
    return taken


async def unpublished(
    conn: asyncpg.Connection, topics: tuple[str, ...], limit: int, republish_after: float
) -> list[asyncpg.Record]:
    """Rows to publish, oldest first: never published, or published long ago and still not
    processed (a broker that lost them)."""
    return await conn.fetch(
        """
        SELECT id, topic, key, payload FROM outbox
        WHERE processed_at IS NULL AND topic = ANY($1::text[])
          AND (published_at IS NULL OR published_at < now() - make_interval(secs => $3))
        ORDER BY id LIMIT $2
        """,
        list(topics),
        limit,
        republish_after,
    )


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    """Record the broker's acknowledgement."""
    await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)


async def republish_pending(conn: asyncpg.Connection, topics: tuple[str, ...]) -> int:
    """After an outage, publish every unprocessed row again, in order: the broker may have lost
    them, and a worker recognises the ones it already handled."""
    result: str = await conn.execute(
        "UPDATE outbox SET published_at = NULL "
        "WHERE processed_at IS NULL AND published_at IS NOT NULL AND topic = ANY($1::text[])",
        list(topics),
    )
    return int(result.split()[-1])


async def acked_offsets(conn: asyncpg.Connection) -> dict[tuple[str, int], int]:
    """Per (Kafka topic, partition), an offset the broker acknowledged to the latest batch."""
    rows = await conn.fetch("SELECT topic, partition, acked FROM kafka_offsets")
    return {(r["topic"], r["partition"]): r["acked"] for r in rows}


async def set_acked_offsets(conn: asyncpg.Connection, offsets: dict[tuple[str, int], int]) -> None:
    """Record these offsets the broker acknowledged (replacing: after a loss the broker counts
    from its new start)."""
    if not offsets:
        return
    await conn.execute(
        """
        INSERT INTO kafka_offsets (topic, partition, acked)
        SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
        ON CONFLICT (topic, partition)
        DO UPDATE SET acked = EXCLUDED.acked, updated_at = now()
        """,
        [t for t, _ in offsets],
        [p for _, p in offsets],
        list(offsets.values()),
    )


async def forget_acked_offsets(conn: asyncpg.Connection, where: list[tuple[str, int]]) -> None:
    """Forget the offsets of partitions the broker no longer has."""
    await conn.execute(
        "DELETE FROM kafka_offsets WHERE (topic, partition) IN "
        "(SELECT * FROM unnest($1::text[], $2::int[]))",
        [t for t, _ in where],
        [p for _, p in where],
    )


async def relay_stats(conn: asyncpg.Connection, topics: tuple[str, ...]) -> dict[str, Any]:
    """Rows waiting for the broker and the oldest one's age (the relay's lag)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS backlog, EXTRACT(EPOCH FROM now() - min(created_at)) AS age
        FROM outbox
        WHERE processed_at IS NULL AND published_at IS NULL AND topic = ANY($1::text[])
        """,
        list(topics),
    )
    assert row is not None
    age = row["age"]
    return {
        "backlog": int(row["backlog"]),
        "oldest_unpublished_seconds": round(float(age), 3) if age is not None else 0.0,
    }
