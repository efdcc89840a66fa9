"""The `fte worker` process resolves answered tickets nobody replied to: the housekeeping loop is
wired into the real process, not only callable."""

from __future__ import annotations

import asyncpg
import pytest

from tests import factories
from tests.fixtures.processes import start_worker
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.e2e


async def test_the_worker_resolves_a_ticket_left_waiting(db_url: str, pool: asyncpg.Pool) -> None:
    filed = await factories.ticket(pool, "Where is my order?", thread="t-worker")
    await factories.reply(pool, filed, "It ships today.")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'pending'")
        # Its queue row is handled: the worker has nothing to answer, only housekeeping.
        await conn.execute("UPDATE outbox SET processed_at = now()")
    worker = start_worker(
        db_url,
        {
            "FTE_AUTO_RESOLVE_HOURS": "0.0003",
            "FTE_AUTO_RESOLVE_CHECK_SECONDS": "0.2",
            # Nothing to embed here: the model in-process starts faster than two children.
            "FTE_EMBEDDING_PROCESS": "false",
        },
    )
    try:

        async def solved() -> str | None:
            async with pool.acquire() as conn:
                return await conn.fetchval(
                    "SELECT solved_by FROM tickets WHERE status = 'resolved'"
                )

        assert await eventually(solved, 90, "the ticket resolved by the worker") == "ai"
        worker.wait_for_output("without a customer reply (solved by ai)")
    finally:
        worker.stop()
