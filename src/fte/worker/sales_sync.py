"""The scheduled sales sync in every worker: each FTE_SALES_SYNC_MINUTES a worker tries; the
advisory lock lets one run, and a run that started within the interval (in any process) makes
the others skip, so N workers still sync once per interval."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from fte.config import Settings
from fte.customers.sales_sync import SalesSync, SyncAlreadyRunning
from fte.worker.loops import DB_DOWN, sleep_or_stop

log = logging.getLogger(__name__)

# How often a worker looks whether a run is due: a run is at most this late.
LOOK_EVERY_SECONDS = 60.0


async def run_schedule(pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Run the sync whenever it is due, until `stop`; failures are logged and retried at the
    next interval, a lost database waited out."""
    interval = settings.sales_sync_minutes * 60
    while not stop.is_set():
        try:
            sync = SalesSync(pool, settings, "schedule")
            if await sync.claim(due_after_seconds=interval):
                await sync.run()
            else:
                log.debug("sales sync: not due (a run started within the interval)")
        except SyncAlreadyRunning:
            log.debug("sales sync: another process is running it")
        except (*DB_DOWN, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("sales sync not started: database unavailable (%r)", exc)
        await sleep_or_stop(stop, min(interval, LOOK_EVERY_SECONDS))
