"""The delivery queue on a real database: the agent's replies leave through `deliver` jobs."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from typer.testing import CliRunner, Result

from fte.bus import dead_letters
from fte.channels.registry import build_registry
from fte.cli.main import app
from fte.config import get_settings
from fte.db import create_pool
from fte.embeddings import Embedder
from fte.kit import logging as trace
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests import factories
from tests.conftest import make_settings
from tests.fixtures.replies import queue_replies


async def test_a_web_form_reply_is_sent_when_the_decision_commits_without_a_delivery_job(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    settings = make_settings()
    adapters = build_registry(settings)
    filed = await factories.ticket(
        kb_pool, "I forgot my password. How can I reset it?", name="Sam Doe"
    )
    await QueueWorker(kb_pool, settings, embedder, adapters, name="a").run_once()
    async with kb_pool.acquire() as conn:
        reply = await conn.fetchrow(
            "SELECT delivery_status, sent_at FROM messages "
            "WHERE ticket_id = $1 AND direction = 'outbound'",
            filed.ticket_id,
        )
        jobs = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'deliver'")
    # The customer reads it on the status page: stored is delivered.
    assert reply["delivery_status"] == "sent" and reply["sent_at"] is not None
    assert jobs == 0
    assert await DeliveryWorker(kb_pool, settings, adapters, name="d").run_once() == 0


async def test_a_reply_on_an_unconfigured_channel_is_a_dead_letter_at_once(
    pool: asyncpg.Pool,
) -> None:
    settings = make_settings()
    filed = await factories.ticket(pool, "Hello", channel="email", name=None)
    with trace.bound(request_id="req-7"):  # queued while handling a request
        (message_id,) = await queue_replies(
            pool, "email", filed.conversation_id, filed.ticket_id, "Hi"
        )
    await DeliveryWorker(pool, settings, build_registry(settings), name="d").run_once()
    async with pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
        status = await conn.fetchval(
            "SELECT delivery_status FROM messages WHERE id = $1", message_id
        )
    assert "not configured" in dead["error"] and dead["attempts"] == 1
    # The delivery's log lines name the request that queued it.
    assert dead["payload"]["request_id"] == "req-7"
    assert status == "failed"


def test_fte_dlq_lists_and_replays_a_failed_delivery(db_url: str) -> None:
    async def fail_one() -> None:
        pool = await create_pool(db_url, min_size=1, max_size=2)
        try:
            await test_a_reply_on_an_unconfigured_channel_is_a_dead_letter_at_once(pool)
        finally:
            await pool.close()

    asyncio.run(fail_one())

    def fte(*args: str) -> Result:
        get_settings.cache_clear()  # each command reads its environment, as a process would
        try:
            return CliRunner().invoke(app, list(args), env={"DATABASE_URL": db_url})
        finally:
            get_settings.cache_clear()

    listed = fte("dlq", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (dead,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert dead["topic"] == "deliver" and "not configured" in dead["error"]
    replayed = fte("dlq", "replay", str(dead["id"]))
    assert replayed.exit_code == 0, replayed.output
    again = fte("dlq", "replay", str(dead["id"]))
    assert again.exit_code == 1
    listed = fte("dlq", "list", "--json")
    assert listed.stdout.strip() == ""
