"""A worker outlives a database restart: it waits, reconnects, and answers again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from fte.channels.registry import build_registry
from fte.db import create_pool
from fte.embeddings import Embedder
from fte.intake.service import IntakeResult, file_inbound
from fte.messaging import Identity, InboundMessage
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres
from fte.worker.queue_worker import QueueWorker
from tests.conftest import make_settings
from tests.fixtures.waiting import eventually


def ask(n: int) -> InboundMessage:
    return InboundMessage(
        channel="web_form",
        identity=Identity("email", f"restart{n}@example.com"),
        customer_name="Rita",
        subject="Sync",
        body=f"My files stopped syncing ({n}).",
    )


async def answered(pool: asyncpg.Pool, message_id: object, within: float = 30) -> None:
    async def run_recorded() -> bool:
        try:
            async with pool.acquire(timeout=2) as conn:
                run = "SELECT 1 FROM agent_runs WHERE message_id = $1"
                return bool(await conn.fetchval(run, message_id))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False

    await eventually(run_recorded, within, "the message answered", every=0.2)


async def file_when_back(pool: asyncpg.Pool, n: int, within: float = 30) -> IntakeResult:
    async def filed() -> IntakeResult | None:
        try:
            return await file_inbound(pool, ask(n))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return None

    return await eventually(filed, within, "the database back for intake", every=0.2)


async def test_the_worker_survives_a_database_restart(
    tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
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
        await answered(pool, first.message_id)

        await asyncio.to_thread(server.stop)
        before = len(caplog.records)

        def failed_polls() -> bool:
            logged = caplog.records[before:]
            return sum("database unavailable" in r.getMessage() for r in logged) >= 3

        await eventually(failed_polls, 30, "several polls against a database that is not there")
        assert not running.done(), running.exception() if running.done() else None
        await asyncio.to_thread(server.start)

        second = await file_when_back(pool, 2)
        await answered(pool, second.message_id)  # the worker came back
        assert not running.done()
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        await pool.close()
        await asyncio.to_thread(server.stop)
