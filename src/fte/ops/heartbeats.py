"""Worker heartbeats (SQL): a row per running worker, beaten every FTE_WORKER_HEARTBEAT_SECONDS;
a worker whose row missed `MISSED_BEATS` beats is dead (killed, hung or cut off)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

MISSED_BEATS = 3
# Rows of workers dead this long are removed (by the next worker to start).
FORGET_AFTER_SECONDS = 86_400
# Counting waiting work stops here: the check needs "some", /health must stay cheap.
WAITING_COUNT_CAP = 10_000


async def beat(conn: asyncpg.Connection, worker: uuid.UUID, host: str, pid: int, bus: str) -> None:
    """This worker is alive now (its row created at its first beat)."""
    await conn.execute(
        """
        INSERT INTO worker_heartbeats (id, host, pid, bus) VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET last_beat_at = now()
        """,
        worker,
        host,
        pid,
        bus,
    )


async def forget(conn: asyncpg.Connection, worker: uuid.UUID) -> None:
    """A worker that stopped cleanly is not a dead one."""
    await conn.execute("DELETE FROM worker_heartbeats WHERE id = $1", worker)


async def prune(conn: asyncpg.Connection) -> None:
    """Drop the rows of workers long dead."""
    await conn.execute(
        "DELETE FROM worker_heartbeats WHERE last_beat_at < now() - make_interval(secs => $1)",
        float(FORGET_AFTER_SECONDS),
    )


async def summary(conn: asyncpg.Connection, heartbeat_seconds: float) -> dict[str, Any]:
    """Workers alive and dead (seen in the last day), seconds since the last beat of any, and
    the jobs waiting for a worker (unprocessed outbox rows, counted up to a cap)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE last_beat_at >= now() - make_interval(secs => $1))
                   AS alive,
               count(*) FILTER (WHERE last_beat_at < now() - make_interval(secs => $1))
                   AS dead,
               EXTRACT(EPOCH FROM now() - max(last_beat_at)) AS last_beat_seconds,
               (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE processed_at IS NULL
                                      LIMIT $2) w) AS waiting
        FROM worker_heartbeats
        """,
        heartbeat_seconds * MISSED_BEATS,
        WAITING_COUNT_CAP,
    )
    last = row["last_beat_seconds"]
    return {
        "alive": int(row["alive"]),
        "dead": int(row["dead"]),
        "last_beat_seconds": round(float(last), 1) if last is not None else None,
        "waiting": int(row["waiting"]),
        "heartbeat_seconds": heartbeat_seconds,
    }
