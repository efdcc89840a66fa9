"""The worker against a real database: answers, escalations, leases, retries, dead letters."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from fte.agent.embeddings import Embedder
from fte.channels.base import Identity, InboundMessage
from fte.channels.registry import build_registry
from fte.intake.service import file_inbound
from fte.worker.agent_consumer import AgentWorker
from tests.conftest import make_settings


def ask(text: str, email: str = "sam@example.com", channel: str = "web_form") -> InboundMessage:
    return InboundMessage(
        channel=channel,
        identity=Identity("email", email),
        customer_name="Sam Doe",
        subject="Question",
        body=text,
    )


def worker(pool: asyncpg.Pool, embedder: Embedder, name: str = "w1", **env: str) -> AgentWorker:
    settings = make_settings(**env)
    return AgentWorker(pool, settings, embedder, build_registry(settings), name=name)


async def replies(pool: asyncpg.Pool, ticket_id: object) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await conn.fetch(
            "SELECT body FROM messages WHERE ticket_id = $1 AND direction = 'outbound'", ticket_id
        )


async def test_a_question_the_kb_answers_gets_the_article(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await file_inbound(kb_pool, ask("I forgot my password. How can I reset it?"))
    assert await worker(kb_pool, embedder).run_once() == 1
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow(
            "SELECT * FROM agent_runs WHERE message_id = $1", filed.message_id
        )
        ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
        outbox = await conn.fetchrow("SELECT * FROM outbox")
    assert run["decision"] == "answer" and run["reason"] is None
    assert "password" in run["sources"][0]["title"].lower()
    assert run["sources"][0]["score"] >= 0.4 and run["latency_ms"] > 0
    assert ticket["status"] == "pending" and ticket["first_response_at"] is not None
    assert outbox["processed_at"] is not None
    (reply,) = await replies(kb_pool, filed.ticket_id)
    assert reply["body"].startswith("Hi Sam,")
    assert f"Source: {run['sources'][0]['title']}" in reply["body"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("My lawyer will be in touch about the files you lost.", "legal_language"),
        ("I want to talk to a real person, not a bot.", "human_requested"),
        ("Please refund last month's charge.", "refund"),
        ("What is the capital of Australia?", "low_confidence"),
    ],
)
async def test_escalations_carry_their_reason_and_a_holding_reply(
    kb_pool: asyncpg.Pool, embedder: Embedder, text: str, reason: str
) -> None:
    filed = await file_inbound(kb_pool, ask(text))
    await worker(kb_pool, embedder).run_once()
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow(
            "SELECT * FROM agent_runs WHERE message_id = $1", filed.message_id
        )
        ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
    assert (run["decision"], run["reason"]) == ("escalate", reason)
    assert (ticket["status"], ticket["escalation_reason"]) == ("escalated", reason)
    assert ticket["first_response_at"] is None  # a holding note is not an answer
    (reply,) = await replies(kb_pool, filed.ticket_id)
    assert "member of our support team" in reply["body"]
    if reason != "low_confidence":
        assert run["draft"]  # the human gets the agent's best answer as a starting point


async def test_handling_a_message_twice_sends_one_reply(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await file_inbound(kb_pool, ask("How do I share a folder with my team?"))
    # The first worker's lease expires before it finishes; a second one takes the job too.
    slow, fast = worker(kb_pool, embedder, "slow"), worker(kb_pool, embedder, "fast")
    async with kb_pool.acquire() as conn:
        await conn.execute(
            "UPDATE outbox SET claimed_by = 'dead', lease_until = now() - interval '1 s'"
        )
    await asyncio.gather(slow.run_once(), fast.run_once())
    async with kb_pool.acquire() as conn:
        await conn.execute(
            "UPDATE outbox SET processed_at = NULL, lease_until = NULL"
        )  # redelivery
    await slow.run_once()
    async with kb_pool.acquire() as conn:
        runs = await conn.fetchval(
            "SELECT count(*) FROM agent_runs WHERE message_id = $1", filed.message_id
        )
        pending = await conn.fetchval("SELECT count(*) FROM outbox WHERE processed_at IS NULL")
    assert runs == 1 and pending == 0
    assert len(await replies(kb_pool, filed.ticket_id)) == 1


async def test_a_claimed_job_is_not_taken_again_until_its_lease_expires(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    await file_inbound(kb_pool, ask("How do I turn on two-factor authentication?"))
    async with kb_pool.acquire() as conn:
        await conn.execute(
            "UPDATE outbox SET claimed_by = 'crashed', lease_until = now() + interval '1 hour', "
            "attempts = 1"
        )
    assert await worker(kb_pool, embedder).run_once() == 0
    async with kb_pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET lease_until = now() - interval '1 s'")
    assert await worker(kb_pool, embedder).run_once() == 1
    async with kb_pool.acquire() as conn:
        assert await conn.fetchval("SELECT attempts FROM outbox") == 2


async def test_one_conversation_is_handled_in_order(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    first = InboundMessage(
        channel="web_form",
        identity=Identity("email", "o@example.com"),
        body="How do I reset my password?",
        thread_key="thread-1",
    )
    second = InboundMessage(
        channel="web_form",
        identity=Identity("email", "o@example.com"),
        body="And how do I change my email address?",
        thread_key="thread-1",
    )
    a = await file_inbound(kb_pool, first)
    b = await file_inbound(kb_pool, second)
    assert a.ticket_id == b.ticket_id and a.conversation_id == b.conversation_id
    w = worker(kb_pool, embedder)
    assert await w.run_once() == 1  # only the older message of the conversation is claimable
    assert await w.run_once() == 1
    async with kb_pool.acquire() as conn:
        order = await conn.fetch("SELECT message_id FROM agent_runs ORDER BY created_at")
    assert [r["message_id"] for r in order] == [a.message_id, b.message_id]


async def test_a_failing_job_retries_then_lands_in_dead_letters_and_replays(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    # A message from a channel this deployment has no adapter for cannot be answered.
    filed = await file_inbound(
        kb_pool, ask("How do I reset my password?", channel="carrier_pigeon")
    )
    w = worker(kb_pool, embedder, FTE_WORKER_MAX_ATTEMPTS="3")
    for _ in range(3):
        assert await w.run_once() == 1
        async with kb_pool.acquire() as conn:  # skip the backoff wait
            await conn.execute("UPDATE outbox SET available_at = now()")
    async with kb_pool.acquire() as conn:
        dead = await conn.fetchrow("SELECT * FROM dead_letters")
        outbox = await conn.fetchrow("SELECT * FROM outbox")
    assert dead["attempts"] == 3 and "carrier_pigeon" in dead["error"]
    assert dead["payload"]["message_id"] == str(filed.message_id)
    assert outbox["processed_at"] is not None  # the conversation is not blocked behind it
    assert await w.run_once() == 0

    from fte.bus import dead_letters

    async with kb_pool.acquire() as conn:  # the fault is fixed: the channel now exists
        await conn.execute("UPDATE messages SET channel = 'web_form'")
        async with conn.transaction():
            assert await dead_letters.replay(conn, dead["id"])
            assert not await dead_letters.replay(conn, dead["id"])
    assert await w.run_once() == 1
    assert len(await replies(kb_pool, filed.ticket_id)) == 1
