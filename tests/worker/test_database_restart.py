"""A worker outlives a database restart: it waits, reconnects, and answers again."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg

from fte.agent.embeddings import Embedder
from fte.channels.base import Identity, InboundMessage
from fte.channels.registry import build_registry
from fte.db import create_pool
from fte.intake.service import IntakeResult, file_inbound
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres
from fte.worker.queue_worker import QueueWorker
from tests.conftest import make_settings


def ask(n: int) -> InboundMessage:
    return InboundMessage(
        channel="web_form",
        identity=Identity("email", f"restart{n}@example.com"),
        customer_name="Rita",
        subject="Sync",
        body=f"My files stopped syncing ({n}).",
    )


async def answered(pool: asyncpg.Pool, message_id: object, within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            async with pool.acquire(timeout=2) as conn:
                if await conn.fetchval(
                    "SELECT 1 FROM agent_runs WHERE message_id = $1", message_id
                ):
                    return True
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    return False


async def file_when_back(pool: asyncpg.Pool, n: int, within: float = 30) -> IntakeResult:
    deadline = time.monotonic() + within
    while True:
        try:
            return await file_inbound(pool, ask(n))
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_the_worker_survives_a_database_restart(tmp_path: Path, embedder: Embedder) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = await asyncio.to_thread(server.start)
    server.requested_port = server.port or 0
    await asyncio.to_thread(migrations.upgrade, url)
    pool = await create_pool(url, min_size=1, max_size=4)
    settings = make_settings(FTE_WORKER_POLL_SECONDS="0.2")
    worker = QueueWorker(pool, settings, embedder, build_registry(settings))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, url))
    try:
        first = await file_inbound(pool, ask(1))
        assert await answered(pool, first.message_id)

        await asyncio.to_thread(server.stop)
        await asyncio.sleep(3)  # several polls against a database that is not there
        assert not running.done(), running.exception() if running.done() else None
        await asyncio.to_thread(server.start)

        second = await file_when_back(pool, 2)
        assert await answered(pool, second.message_id), "the worker did not come back"
        assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await pool.close()
        await asyncio.to_thread(server.stop)
