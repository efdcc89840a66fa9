"""SQL for the sales sync's bookkeeping: the advisory lock that lets one run at a time across
every process, and the `sales_sync_runs` rows (status, rows, cursor, error)."""

from __future__ import annotations

from typing import Any

import asyncpg

# pg_advisory_lock key of the sales sync: "FTESYNC" in ASCII.
LOCK_KEY = 0x46_54_45_53_59_4E_43


async def try_lock(conn: asyncpg.Connection) -> bool:
    """Take the sync's session lock on this connection; False when another session holds it."""
    taken: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY)
    return taken


async def unlock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


async def started_within(conn: asyncpg.Connection, seconds: float) -> bool:
    """Whether a run started less than `seconds` ago (a scheduled run is not due yet)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sales_sync_runs "
        "WHERE started_at > now() - make_interval(secs => $1))",
        seconds,
    )
    return found


async def start_run(conn: asyncpg.Connection, trigger: str) -> int:
    """A `running` row for a new run; rows left `running` by a process that died are marked
    failed first (the caller holds the lock, so none of them is still running)."""
    await conn.execute(
        "UPDATE sales_sync_runs SET status = 'failed', finished_at = now(), "
        "error = 'interrupted: its process stopped before it finished' WHERE status = 'running'"
    )
    run_id: int = await conn.fetchval(
        "INSERT INTO sales_sync_runs (trigger) VALUES ($1) RETURNING id", trigger
    )
    return run_id


async def finish_run(
    conn: asyncpg.Connection,
    run_id: int,
    status: str,
    rows: int,
    cursor: str | None,
    error: str | None,
) -> None:
    await conn.execute(
        "UPDATE sales_sync_runs SET status = $2, rows = $3, cursor = $4, error = $5, "
        "finished_at = now() WHERE id = $1",
        run_id,
        status,
        rows,
        cursor,
        error,
    )


async def last_cursor(conn: asyncpg.Connection) -> str | None:
    """The change marker the last successful run reached (None: start from the beginning)."""
    cursor: str | None = await conn.fetchval(
        "SELECT cursor FROM sales_sync_runs WHERE status = 'succeeded' AND cursor IS NOT NULL "
        "ORDER BY id DESC LIMIT 1"
    )
    return cursor


async def freshness(conn: asyncpg.Connection) -> dict[str, Any]:
    """The last run (any outcome) and the last successful one's end."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT max(finished_at) FROM sales_sync_runs WHERE status = 'succeeded')
                   AS last_success_at,
               l.id, l.status, l.started_at, l.finished_at, l.rows, l.error
          FROM (SELECT 1) one
          LEFT JOIN LATERAL (SELECT * FROM sales_sync_runs ORDER BY id DESC LIMIT 1) l ON true
        """
    )
    return dict(row)


async def run(conn: asyncpg.Connection, run_id: int) -> asyncpg.Record | None:
    """One run's row."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM sales_sync_runs WHERE id = $1", run_id
    )
    return row
