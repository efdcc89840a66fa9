"""What follows a change of many orders (an import, a sync): the profiles are refitted and
rescored. Pushed events do not come here: a profile whose orders changed after it was scored
(`orders.updated_at > customer_profiles.scored_at`) is stale until the next rescoring."""

from __future__ import annotations

import logging
import time

import asyncpg

from fte.customers.scoring import rescore

log = logging.getLogger(__name__)


async def after_orders_changed(pool: asyncpg.Pool) -> None:
    """Refit the model and rescore every customer, logging how long it took."""
    started = time.perf_counter()
    try:
        result = await rescore(pool)
    except Exception:  # the orders are committed: a failed rescoring is retried by the next
        log.exception("rescoring after an orders change failed; profiles not refreshed")
        return
    log.info("profiles rescored in %.1f s: %s", time.perf_counter() - started, result)
