"""Knowledge gaps: low-confidence escalations, grouped by meaning with the agent's own
embeddings, biggest group first."""

from __future__ import annotations

import re

import asyncpg
import httpx
import numpy as np

from fte.channels.registry import build_registry
from fte.console.gaps import group
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings

PRINTER = [
    "How do I connect my Zebra label printer?",
    "My Zebra label printer won't connect, how do I set it up?",
    "Setting up a Zebra label printer with your app",
]
OFFICE = [
    "Where is your office in Lisbon? Can I visit it?",
    "Can I come to your Lisbon office in person?",
]
OTHER = ["Do you sponsor the local football team?"]


async def test_similar_unanswered_questions_land_in_one_group(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    questions = PRINTER + OFFICE + OTHER
    for i, text in enumerate(questions):
        await factories.ticket(kb_pool, text, email=f"g{i}@example.com", name="Kim")
    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="gaps")
    assert await worker.run_once() == len(questions)
    async with kb_pool.acquire() as conn:
        reasons = await conn.fetch("SELECT decision, reason FROM agent_runs")
    # The premise: the demo knowledge base answers none of these.
    assert {(r["decision"], r["reason"]) for r in reasons} == {("escalate", "low_confidence")}, [
        dict(r) for r in reasons
    ]

    page = await console.get("/console/dashboard", params={"period": "1d"})
    assert page.status_code == 200
    section = page.text[page.text.index('id="knowledge-gaps"') :]
    counts = [int(c) for c in re.findall(r'class="gap-count">(\d+)<', section)]
    samples = re.findall(r'class="gap-sample">([^<]*)<', section)
    assert counts == [3, 2, 1]
    assert samples[0] in PRINTER and samples[1] in OFFICE and samples[2] in OTHER
    assert "(6)" in section


def test_grouping_cuts_at_the_similarity_threshold() -> None:
    a = np.array([1.0, 0.0, 0.0])
    b = np.array([0.9, np.sqrt(1 - 0.81), 0.0])  # cosine 0.9 to a
    c = np.array([0.0, 0.0, 1.0])  # orthogonal to both
    labels = group(np.vstack([a, b, c]), similarity=0.6)
    assert labels[0] == labels[1] != labels[2]
    assert group(np.zeros((0, 3))) == []
