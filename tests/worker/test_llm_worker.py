"""The worker with a model configured: the model writes, the local responder stands in."""

from __future__ import annotations

import re

import asyncpg

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.process import build_responder
from fte.worker.queue_worker import QueueWorker
from tests.conftest import make_settings
from tests.fixtures.fake_openai import FakeOpenAI, Received, Reply, completion, error, tool_call
from tests.worker.test_queue_worker import ask, replies


def llm_worker(pool: asyncpg.Pool, embedder: Embedder, base_url: str) -> QueueWorker:
    settings = make_settings(
        FTE_LLM_BASE_URL=base_url,
        FTE_LLM_MODEL="fake-model",
        FTE_LLM_MAX_RETRIES="1",
        FTE_LLM_TIMEOUT_SECONDS="2",
        FTE_LLM_INPUT_COST_PER_1K="0.5",
        FTE_LLM_OUTPUT_COST_PER_1K="1.5",
    )
    return QueueWorker(
        pool,
        settings,
        embedder,
        build_registry(settings),
        name="llm",
        responder=build_responder(settings),
    )


def answer_from_first_source(request: Received) -> Reply:
    first_user = next(m["content"] for m in request.messages if m["role"] == "user")
    article_id = re.search(r"id: ([0-9a-f-]{36})", first_user).group(1)  # type: ignore[union-attr]
    return completion(
        tool_calls=[
            tool_call(
                "send_response",
                {
                    "body": "Open Settings, then Account, then Security; choose Reset password.",
                    "article_ids": [article_id],
                },
            )
        ],
        prompt_tokens=1000,
        completion_tokens=100,
    )


async def test_the_model_writes_the_reply_and_its_cost_is_recorded(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await ask(kb_pool, "How do I reset my password?")
    async with FakeOpenAI() as fake:
        fake.handler = answer_from_first_source
        worker = llm_worker(kb_pool, embedder, fake.base_url)
        await worker.run_once()
        await worker.answers.agent.responder.aclose()  # type: ignore[union-attr]
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM agent_runs")
    assert run["decision"] == "answer" and run["fallback_reason"] is None
    assert run["model"] == "fake-model-2025-01-01"
    assert (run["prompt_tokens"], run["completion_tokens"]) == (1000, 100)
    assert float(run["cost_usd"]) == 0.65  # 1.0 × 0.5 + 0.1 × 1.5
    (reply,) = await replies(kb_pool, filed.ticket_id)
    assert "; choose Reset password." in reply["body"]
    assert "Source: Resetting your password" in reply["body"]
    # The model saw the customer's message and the retrieved articles, nothing invented.
    assert "How do I reset my password?" in str(fake.requests[0].messages)


async def test_a_failing_model_leaves_the_answer_to_the_local_responder(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await ask(kb_pool, "How do I reset my password?")
    async with FakeOpenAI() as fake:
        fake.handler = lambda _: error(500, "overloaded")
        worker = llm_worker(kb_pool, embedder, fake.base_url)
        await worker.run_once()
        await worker.answers.agent.responder.aclose()  # type: ignore[union-attr]
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM agent_runs")
    assert (run["decision"], run["fallback_reason"]) == ("answer", "server_error")
    assert run["model"] == "local-grounded"
    (reply,) = await replies(kb_pool, filed.ticket_id)
    assert "Source: Resetting your password" in reply["body"]
