"""Dead letters: jobs that failed every attempt, kept with their error until replayed."""

from __future__ import annotations

import traceback

import asyncpg

from fte.bus import outbox

MAX_ID = 2**63 - 1  # ids are bigint: a larger one is no id at all, not a missing one


def error_text(exc: BaseException) -> str:
    """How a failure is recorded (a dead letter's error, a message's last error): the
    exception's type and message, without the traceback."""
    return "".join(traceback.format_exception_only(exc)).strip()


async def list_open(conn: asyncpg.Connection, limit: int = 100) -> list[asyncpg.Record]:
    """Dead letters not yet replayed, newest first."""
    return await conn.fetch(
        """
        SELECT id, outbox_id, topic, key, payload, error, attempts, created_at
        FROM dead_letters WHERE replayed_at IS NULL ORDER BY created_at DESC LIMIT $1
        """,
        limit,
    )


async def replay(conn: asyncpg.Connection, dead_letter_id: int) -> bool:
    """Queue the job again as a new outbox row; False when there is no such open dead letter."""
    row = await conn.fetchrow(
        "UPDATE dead_letters SET replayed_at = now() WHERE id = $1 AND replayed_at IS NULL "
        "RETURNING topic, key, payload",
        dead_letter_id,
    )
    if row is None:
        return False
    await outbox.enqueue(conn, row["topic"], row["key"], row["payload"])
    return True


async def count_since(conn: asyncpg.Connection, seconds: float) -> int:
    """Dead letters created in the last `seconds` and not replayed."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM dead_letters "
        "WHERE replayed_at IS NULL AND created_at > now() - make_interval(secs => $1)",
        seconds,
    )
    return count
