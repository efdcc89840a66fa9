"""The scheduled sales sync in the workers: two workers due at the same time make one run."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from fte.worker.sales_sync import run_schedule
from tests.customers.test_sales_sync import sales_url, sync_settings  # noqa: F401 (fixture)
from tests.fixtures.waiting import eventually


async def test_two_workers_sync_once_per_interval(
    pool: asyncpg.Pool,
    sales_url: str,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="fte.worker.sales_sync")
    settings = sync_settings(sales_url, FTE_SALES_SYNC_MINUTES="60")
    stop = asyncio.Event()
    workers = [asyncio.create_task(run_schedule(pool, settings, stop)) for _ in range(2)]

    async def runs() -> list[asyncpg.Record]:
        async with pool.acquire() as conn:
            return await conn.fetch("SELECT status, trigger FROM sales_sync_runs")

    async def finished() -> bool:
        found = await runs()
        return bool(found) and all(r["status"] != "running" for r in found)

    async def both_looked() -> bool:
        # The second worker either found the lock held or the run already made.
        return "another process is running it" in caplog.text or "not due" in caplog.text

    try:
        await eventually(both_looked, what="the second worker to look")
        await eventually(finished, what="the scheduled run to finish")
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert [(r["status"], r["trigger"]) for r in await runs()] == [("succeeded", "schedule")]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 3
