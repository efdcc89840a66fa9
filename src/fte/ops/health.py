"""Health checks: what /health reports (and, later, what `fte doctor` prints)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from fte.bus import kafka, outbox, postgres_queue
from fte.channels.base import ChannelAdapter, SelfChecking
from fte.config import Settings
from fte.delivery import repository as delivery

DB_CHECK_TIMEOUT = 1.5  # /health must answer within 2 s even when the database hangs


async def check_database(
    pool: asyncpg.Pool, settings: Settings | None = None
) -> tuple[bool, dict[str, Any] | None]:
    """(reachable, queue stats with the channels' breakers) within the time limit."""

    async def probe() -> dict[str, Any]:
        async with pool.acquire(timeout=DB_CHECK_TIMEOUT) as conn:
            stats = await postgres_queue.stats(conn)
            stats["breakers"] = await delivery.breaker_states(conn)
            if settings is not None and settings.bus == "kafka":
                stats["backend"] = "kafka"
                stats.update(await outbox.relay_stats(conn, kafka.RELAYED_TOPICS))
            return stats

    try:
        return True, await asyncio.wait_for(probe(), timeout=DB_CHECK_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False, None


def channel_state(
    adapter: ChannelAdapter, breakers: dict[str, str], problems: dict[str, str] | None = None
) -> str:
    """`inactive` (not configured), `degraded` (its delivery breaker is not closed, or the
    adapter reports a problem of its own), `active`."""
    if not adapter.is_configured():
        return "inactive"
    if breakers.get(adapter.name, "closed") != "closed" or adapter.name in (problems or {}):
        return "degraded"
    return "active"


async def channel_problems(
    pool: asyncpg.Pool, adapters: dict[str, ChannelAdapter]
) -> dict[str, str]:
    """The problems configured adapters report of themselves, by channel (within the time
    limit; none when the database cannot tell)."""
    checking = {
        name: adapter
        for name, adapter in adapters.items()
        if isinstance(adapter, SelfChecking) and adapter.is_configured()
    }
    if not checking:
        return {}

    async def probe() -> dict[str, str]:
        found = {}
        async with pool.acquire(timeout=DB_CHECK_TIMEOUT) as conn:
            for name, adapter in checking.items():
                problem = await adapter.health_problem(conn)
                if problem is not None:
                    found[name] = problem
        return found

    try:
        return await asyncio.wait_for(probe(), timeout=DB_CHECK_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return {}


async def check_kafka(settings: Settings) -> bool:
    """The broker accepts connections (within half a second)."""
    return await asyncio.to_thread(kafka.reachable, settings, 0.5)


async def health_report(
    pool: asyncpg.Pool, adapters: dict[str, ChannelAdapter], settings: Settings | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, report). 503 when the database cannot be reached; with Kafka away the
    queue is `degraded` (intake goes on, rows wait in the outbox) but the status stays 200."""
    db_ok, queue = await check_database(pool, settings)
    breakers = queue.pop("breakers", {}) if queue is not None else {}
    if queue is not None and settings is not None and settings.bus == "kafka":
        queue["status"] = "ok" if await check_kafka(settings) else "degraded"
    problems = await channel_problems(pool, adapters) if db_ok else {}
    report: dict[str, Any] = {
        "status": "ok" if db_ok else "down",
        "database": "active" if db_ok else "inactive",
        "queue": queue if queue is not None else {"backend": "postgres", "status": "unknown"},
        "channels": {
            name: channel_state(adapter, breakers, problems) for name, adapter in adapters.items()
        },
    }
    if problems:
        report["channel_problems"] = problems
    return (200 if db_ok else 503), report
