"""`fte dlq list|replay` on the PostgreSQL queue (the Kafka path is in tests/worker)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import asyncpg

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings


async def fte(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fte", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_dead_letters_are_listed_and_replayed_from_the_command_line(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder
) -> None:
    settings = make_settings(FTE_WORKER_MAX_ATTEMPTS="1")
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="w")
    filed = await factories.ticket(
        kb_pool,
        "How do I reset my password?",
        channel="carrier_pigeon",
        email="d@example.com",
        name="Dee",
        subject="Question",
    )
    assert await worker.run_once() == 1

    listed = await fte(kb_db_url, "dlq", "list", "--json")
    (entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert entry["topic"] == "inbound" and "carrier_pigeon" in entry["error"]

    usage = await fte(kb_db_url, "dlq", "replay")
    assert usage.returncode == 2 and "ID or --all" in usage.stderr
    async with kb_pool.acquire() as conn:
        await conn.execute("UPDATE messages SET channel = 'web_form'")
    replayed = await fte(kb_db_url, "dlq", "replay", str(entry["id"]))
    assert replayed.returncode == 0 and "Replayed 1" in replayed.stderr
    again = await fte(kb_db_url, "dlq", "replay", str(entry["id"]))
    assert again.returncode == 1 and "No open dead letter" in again.stderr

    assert await worker.run_once() == 1
    async with kb_pool.acquire() as conn:
        decision = await conn.fetchval(
            "SELECT decision FROM agent_runs WHERE message_id = $1", filed.message_id
        )
    assert decision == "answer"
    assert (await fte(kb_db_url, "dlq", "list")).stderr.strip() == "No dead letters."
