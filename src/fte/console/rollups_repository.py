"""The dashboard's figures per day (UTC), read from the tables that record them, and the
`ticket_daily` roll-up of closed days (migration 0019). SQL only: what the rows mean and when
a day is rolled up is `console/rollups.py`.

Each per-day query takes a pool (its own connection, so the page's queries run on all cores at
once) or the connection of a roll-up's transaction, and bounds `[lo, hi)` at UTC midnights;
each reads one time column through its index."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, TypeAlias

import asyncpg

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection

# Fixed log buckets for durations, so days merge by adding counts: bucket 0 is under a second,
# bucket b covers [1.1^(b-1), 1.1^b) seconds, the last one everything from 1.1^249 s on.
BUCKET_RATIO = 1.1
LAST_BUCKET = 250


def _bucket(seconds: str) -> str:
    return (
        f"CASE WHEN {seconds} < 1 THEN 0 "
        f"ELSE least(1 + floor(ln({seconds}) / ln({BUCKET_RATIO})), {LAST_BUCKET})::int END"
    )


_RESOLUTION = _bucket("extract(epoch FROM resolved_at - created_at)")
_FIRST_RESPONSE = _bucket("extract(epoch FROM first_response_at - created_at)")

# A lock of the roll-up's own (pg_advisory_xact_lock's key space is the database's).
_LOCK = int(uuid.UUID("6d1a7c52-0019-4d3b-9a51-7469636b6574").int % (1 << 63))


async def opened(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """Tickets opened per day and channel."""
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, channel, count(*)::int AS n "
        "FROM tickets WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2",
        lo,
        hi,
    )
    return rows


async def resolved(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """Tickets solved per day (still resolved or closed) and resolution-time bucket, and how
    many of them the AI solved alone."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT (resolved_at AT TIME ZONE 'UTC')::date AS day, {_RESOLUTION} AS bucket,
               count(*)::int AS n, count(*) FILTER (WHERE solved_by = 'ai')::int AS ai
        FROM tickets
        WHERE resolved_at >= $1 AND resolved_at < $2 AND status IN ('resolved', 'closed')
        GROUP BY 1, 2
        """,
        lo,
        hi,
    )
    return rows


async def first_responses(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """First responses per day and first-response-time bucket."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT (first_response_at AT TIME ZONE 'UTC')::date AS day, {_FIRST_RESPONSE} AS bucket,
               count(*)::int AS n
        FROM tickets WHERE first_response_at >= $1 AND first_response_at < $2
        GROUP BY 1, 2
        """,
        lo,
        hi,
    )
    return rows


async def ratings(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """Customers' ratings per day of their latest rating: count, sum of scores, 4s and 5s."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT (updated_at AT TIME ZONE 'UTC')::date AS day, count(*)::int AS ratings,
               sum(score)::int AS rating_sum, count(*) FILTER (WHERE score >= 4)::int AS good
        FROM ticket_ratings WHERE updated_at >= $1 AND updated_at < $2 GROUP BY 1
        """,
        lo,
        hi,
    )
    return rows


async def runs(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """Agent runs per day, decision and (for escalations) reason."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, decision,
               CASE WHEN decision = 'escalate' THEN COALESCE(reason, 'unknown') END AS reason,
               count(*)::int AS n
        FROM agent_runs WHERE created_at >= $1 AND created_at < $2 GROUP BY 1, 2, 3
        """,
        lo,
        hi,
    )
    return rows


async def sentiment(db: Db, lo: datetime, hi: datetime) -> list[asyncpg.Record]:
    """Customers' messages per day and sentiment."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, sentiment, count(*)::int AS n
        FROM messages
        WHERE created_at >= $1 AND created_at < $2
          AND direction = 'inbound' AND sentiment IS NOT NULL
        GROUP BY 1, 2
        """,
        lo,
        hi,
    )
    return rows


# The roll-up table.

COLUMNS = (
    "opened", "opened_by_channel", "resolved", "resolved_by_ai", "resolution_hist",
    "first_response_hist", "ratings", "rating_sum", "ratings_good", "decisions",
    "escalation_reasons", "sentiment",
)  # fmt: skip


async def rolled_up(db: Db, first: date, end: date) -> list[asyncpg.Record]:
    """The rolled-up days in `[first, end)`."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT day, {', '.join(COLUMNS)} FROM ticket_daily "
        "WHERE day >= $1 AND day < $2 ORDER BY day",
        first,
        end,
    )
    return rows


async def needs_rolling(db: Db, first: date, end: date) -> bool:
    """Whether a day in `[first, end)` is missing from the roll-up or was changed since."""
    missing: bool = await db.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM ticket_daily_stale WHERE day >= $1 AND day < $2)
            OR (SELECT count(*) FROM ticket_daily WHERE day >= $1 AND day < $2) < $2 - $1
        """,
        first,
        end,
    )
    return missing


async def lock(conn: asyncpg.Connection) -> None:
    """One roll-up at a time; held until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)


async def take_stale(conn: asyncpg.Connection, end: date) -> list[date]:
    """The days before `end` changed since they were rolled up, no longer marked stale."""
    rows = await conn.fetch("DELETE FROM ticket_daily_stale WHERE day < $1 RETURNING day", end)
    return [r["day"] for r in rows]


async def days_present(conn: asyncpg.Connection, first: date, end: date) -> set[date]:
    rows = await conn.fetch("SELECT day FROM ticket_daily WHERE day >= $1 AND day < $2", first, end)
    return {r["day"] for r in rows}


async def forget(conn: asyncpg.Connection, days: Iterable[date]) -> None:
    """Drop these days' roll-ups (stale days outside every period: recomputed if ever read)."""
    await conn.execute("DELETE FROM ticket_daily WHERE day = ANY($1::date[])", list(days))


async def save(conn: asyncpg.Connection, days: Iterable[Mapping[str, Any]]) -> None:
    """Store these days' figures, replacing what was rolled up for them."""
    names = ("day", *COLUMNS)
    await conn.executemany(
        f"""
        INSERT INTO ticket_daily ({", ".join(names)}, computed_at)
        VALUES ({", ".join(f"${i}" for i in range(1, len(names) + 1))}, now())
        ON CONFLICT (day) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS)}, computed_at = now()
        """,
        [tuple(day[n] for n in names) for day in days],
    )
