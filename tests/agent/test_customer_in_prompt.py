"""The agent sees the customer: the model's prompt carries the profile (value, orders, last
purchase, plan, segment, churn risk and its factors, open tickets), and its
get_customer_history tool returns the profile and recent tickets too (real client library,
local fake OpenAI server)."""

from __future__ import annotations

import json
import re

import asyncpg

from fte.embeddings import Embedder
from tests import factories
from tests.fixtures.fake_openai import FakeOpenAI, Received, Reply, completion, tool_call
from tests.worker.test_llm_worker import llm_worker


async def test_the_prompt_and_the_history_tool_carry_the_profile(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    vera = await factories.customer(kb_pool, "Vera", email="vera@example.com")
    await factories.profile(
        kb_pool,
        vera,
        orders=41,
        lifetime_value=5230.5,
        value_percentile=0.97,
        churn_risk=0.82,
        churn_factors=[
            {"factor": "recency", "weight": 0.6, "detail": "no purchase in 95 days"},
            {"factor": "support", "weight": 0.3, "detail": "2 escalations in 90 days"},
        ],
        segment="at_risk",
        days_since_last_order=95,
        plan="enterprise",
    )
    earlier = await factories.ticket(
        kb_pool, "My export is stuck", email="vera@example.com", subject="Export stuck"
    )
    async with kb_pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET processed_at = now()")  # answered long ago
    await factories.ticket(
        kb_pool, "How do I reset my password?", email="vera@example.com", subject="Password"
    )

    def model(request: Received) -> Reply:
        if not any(m["role"] == "tool" for m in request.messages):
            return completion(tool_calls=[tool_call("get_customer_history", {}, "call_h")])
        first_user = next(m["content"] for m in request.messages if m["role"] == "user")
        article = re.search(r"id: ([0-9a-f-]{36})", first_user).group(1)  # type: ignore[union-attr]
        return completion(
            tool_calls=[tool_call("send_response", {"body": "Here.", "article_ids": [article]})]
        )

    async with FakeOpenAI() as fake:
        fake.handler = model
        worker = llm_worker(kb_pool, embedder, fake.base_url)
        assert await worker.run_once() == 1
        await worker.answers.agent.responder.aclose()  # type: ignore[union-attr]

    prompt = next(m["content"] for m in fake.requests[0].messages if m["role"] == "user")
    assert "5,230.50 USD over 41 orders (more than 97% of customers)" in prompt
    assert "(95 days ago)" in prompt
    assert "plan: enterprise; segment: at_risk" in prompt
    assert "Churn risk: 0.82 (no purchase in 95 days; 2 escalations in 90 days)" in prompt
    assert "other open tickets: 1" in prompt
    assert "vera@example.com" not in prompt  # facts about the customer, not how to reach them

    (result,) = [m for m in fake.requests[1].messages if m["role"] == "tool"]
    history = json.loads(result["content"])
    customer = history["customer"]
    assert (customer["orders"], customer["lifetime_value"]) == (41, 5230.5)
    assert customer["churn_risk"] == 0.82 and customer["segment"] == "at_risk"
    assert customer["recent_tickets"] == [
        {
            "number": earlier.ticket_number,
            "subject": "Export stuck",
            "status": "open",
            "priority": "medium",
            "channel": "web_form",
            "created_at": customer["recent_tickets"][0]["created_at"],
        }
    ]
    assert [m["body"] for m in history["messages"]] == ["My export is stuck"]
