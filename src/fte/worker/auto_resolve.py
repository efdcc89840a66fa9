"""The housekeeping loop that closes the lifecycle: answered tickets nobody replied to within
FTE_AUTO_RESOLVE_HOURS are resolved (`fte.tickets.lifecycle`), a batch per transaction.

Every worker runs it; rows are claimed with SKIP LOCKED and re-checked, so two workers never
resolve the same ticket twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from fte.config import Settings
from fte.db import transaction
from fte.tickets.lifecycle import auto_resolve
from fte.worker.loops import DB_DOWN, sleep_or_stop

log = logging.getLogger(__name__)

BATCH = 200


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AutoResolver:
    """The periodic job; `run_once` is one pass (tests call it with their own clock)."""

    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, clock: Callable[[], datetime] = _utc_now
    ):
        self.pool = pool
        self.settings = settings
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every FTE_AUTO_RESOLVE_CHECK_SECONDS until `stop`; a lost database waits."""
        while not stop.is_set():
            try:
                await self.run_once()
            except DB_DOWN as exc:
                log.warning("auto-resolve skipped: database unavailable (%s)", exc)
            except Exception:
                log.exception("auto-resolve failed; trying again next time")
            await sleep_or_stop(stop, self.settings.auto_resolve_check_seconds)

    async def run_once(self, batch: int = BATCH) -> int:
        """Resolve every ticket due now, `batch` per transaction; how many were resolved."""
        now = self.clock()
        after = timedelta(hours=self.settings.auto_resolve_hours)
        total = 0
        while True:
            async with transaction(self.pool) as conn:
                done = await auto_resolve(conn, now=now, after=after, limit=batch)
            for item in done:
                log.info(
                    "ticket #%s resolved after %g h without a customer reply (solved by %s)",
                    item.number,
                    self.settings.auto_resolve_hours,
                    item.solved_by,
                )
            total += len(done)
            if len(done) < batch:
                return total
