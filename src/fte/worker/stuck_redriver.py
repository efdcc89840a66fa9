"""Self-healing for stuck messages: a customer message with no agent run FTE_STUCK_AFTER_MINUTES
after it was filed is re-enqueued (claimable now, published to Kafka again), at most
FTE_STUCK_MAX_REDRIVES times; then it is a dead letter with the reason, and a person takes the
ticket (`ai_unavailable`), as after any last failed attempt.

Every worker runs this job; an advisory lock lets one of them do it at a time.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from fte.bus import postgres_queue as queue
from fte.bus import stuck_messages
from fte.config import Settings
from fte.db import transaction
from fte.kit import logging as trace
from fte.kit import metrics
from fte.messaging import ChannelAdapter
from fte.worker import dead_letter as dead_letters
from fte.worker.loops import DB_DOWN, sleep_or_stop

log = logging.getLogger(__name__)

BATCH = 100


class Redriver:
    """The periodic job; `run_once` is one pass (tests call it directly)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, adapters: dict[str, ChannelAdapter]):
        self.pool = pool
        self.settings = settings
        self.adapters = adapters

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every FTE_STUCK_CHECK_SECONDS until `stop`; a lost database waits a pass."""
        while not stop.is_set():
            try:
                await self.run_once()
            except DB_DOWN as exc:
                log.warning("stuck-message check skipped: database unavailable (%s)", exc)
            except Exception:
                log.exception("stuck-message check failed; trying again next time")
            await sleep_or_stop(stop, self.settings.stuck_check_seconds)

    async def run_once(self) -> tuple[int, int]:
        """(re-enqueued, dead-lettered) in this pass; (0, 0) when another worker holds the turn."""
        redriven = dead = 0
        async with transaction(self.pool) as conn:
            if not await stuck_messages.take_redrive_turn(conn):
                return 0, 0
            found = await stuck_messages.stuck(conn, self.settings.stuck_after_minutes * 60, BATCH)
            for item in found:
                with trace.bound(
                    **trace.from_payload(item.payload),
                    ticket_id=item.ticket_id,
                    message_id=item.message_id,
                ):
                    if item.redrives >= self.settings.stuck_max_redrives:
                        await self._give_up(conn, item)
                        dead += 1
                    else:
                        await stuck_messages.release(conn, item.outbox_id)
                        redriven += 1
                        metrics.STUCK_REDRIVEN.labels(outcome="redriven").inc()
                        log.warning(
                            "ticket #%s: message stuck for %.0f min without an agent run; "
                            "re-enqueued (%d of %d)",
                            item.ticket_number,
                            item.age_seconds / 60,
                            item.redrives + 1,
                            self.settings.stuck_max_redrives,
                        )
        return redriven, dead

    async def _give_up(self, conn: asyncpg.Connection, item: stuck_messages.Stuck) -> None:
        reason = (
            f"stuck: no agent run {item.age_seconds / 60:.0f} min after filing, "
            f"after {item.redrives} re-drive(s)"
        )
        job = queue.Job(item.outbox_id, item.topic, item.key, item.payload, item.attempts)
        dead_id, _ = await dead_letters.dead_letter(conn, job, reason, self.adapters)
        metrics.STUCK_REDRIVEN.labels(outcome="dead_lettered").inc()
        log.error(
            "ticket #%s: message dead-lettered as %s: %s", item.ticket_number, dead_id, reason
        )
