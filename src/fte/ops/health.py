"""Health checks: what /health reports (and, later, what `fte doctor` prints)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from fte.bus import postgres_queue
from fte.channels.base import ChannelAdapter

DB_CHECK_TIMEOUT = 1.5  # /health must answer within 2 s even when the database hangs


async def check_database(pool: asyncpg.Pool) -> tuple[bool, dict[str, Any] | None]:
    """(reachable, queue stats) within the time limit."""

    async def probe() -> dict[str, Any]:
        async with pool.acquire(timeout=DB_CHECK_TIMEOUT) as conn:
            return await postgres_queue.stats(conn)

    try:
        return True, await asyncio.wait_for(probe(), timeout=DB_CHECK_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False, None


async def health_report(
    pool: asyncpg.Pool, adapters: dict[str, ChannelAdapter]
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, report). 503 when the database cannot be reached."""
    db_ok, queue = await check_database(pool)
    report: dict[str, Any] = {
        "status": "ok" if db_ok else "down",
        "database": "active" if db_ok else "inactive",
        "queue": queue if queue is not None else {"backend": "postgres", "status": "unknown"},
        "channels": {
            name: "active" if adapter.is_configured() else "inactive"
            for name, adapter in adapters.items()
        },
    }
    return (200 if db_ok else 503), report
