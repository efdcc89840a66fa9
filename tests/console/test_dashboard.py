"""The dashboard's figures come from what the agent and people actually did."""

from __future__ import annotations

import re

import asyncpg
import httpx

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.tickets import service as tickets
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings


def tile(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}">([^<]*)<', html)
    assert match, element_id
    return match.group(1)


async def test_dashboard_counts_runs_reasons_and_the_ai_resolution_rate(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    for i, (channel, text) in enumerate(
        [
            ("web_form", "How do I reset my password?"),
            ("web_form", "I want a refund for last month, now."),
            ("email", "How can I pause syncing for a while?"),
        ]
    ):
        await factories.ticket(
            kb_pool, text, channel=channel, email=f"c{i}@example.com", name="Sam"
        )
    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="dash")
    assert await worker.run_once() == 3
    async with kb_pool.acquire() as conn:
        answered = await conn.fetchval(
            "SELECT ticket_id FROM agent_runs WHERE decision = 'answer' LIMIT 1"
        )
        await tickets.resolve(conn, answered)

    page = await console.get("/console/dashboard", params={"period": "7d"})
    assert page.status_code == 200
    assert tile(page.text, "tickets") == "3"
    assert tile(page.text, "escalation-rate") == "33%"
    assert tile(page.text, "ai-resolution") == "33%"
    assert "<title>web_form: 2</title>" in page.text and "<title>email: 1</title>" in page.text
    assert "<title>refund: 1</title>" in page.text
    assert "<title>answer: 2</title>" in page.text
    # An unknown period falls back to a week rather than failing.
    assert (await console.get("/console/dashboard", params={"period": "x"})).status_code == 200
