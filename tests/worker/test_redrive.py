"""Self-healing: a message with no agent run after FTE_STUCK_AFTER_MINUTES is re-enqueued, at
most FTE_STUCK_MAX_REDRIVES times, then dead-lettered with the reason."""

from __future__ import annotations

from collections.abc import Awaitable

import asyncpg
import prometheus_client

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.intake.service import IntakeResult
from fte.worker.queue_worker import QueueWorker
from fte.worker.stuck_redriver import Redriver
from tests import factories
from tests.conftest import make_settings


def counted(outcome: str) -> float:
    value = prometheus_client.REGISTRY.get_sample_value(
        "fte_stuck_messages_total", {"outcome": outcome}
    )
    return value or 0.0


async def wedge(pool: asyncpg.Pool, filed: IntakeResult) -> None:
    """Filed 10 minutes ago and claimed by a worker that vanished holding a long lease."""
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET created_at = now() - interval '10 minutes' WHERE id = $1",
            filed.message_id,
        )
        await conn.execute(
            "UPDATE outbox SET claimed_by = 'gone:1', lease_until = now() + interval '1 hour', "
            "attempts = attempts + 1 WHERE payload->>'message_id' = $1",
            str(filed.message_id),
        )


def question(pool: asyncpg.Pool, email: str) -> Awaitable[IntakeResult]:
    return factories.ticket(
        pool,
        "I forgot my password. How can I reset it?",
        email=email,
        name="Sam",
        subject="Password",
    )


async def test_a_stuck_message_is_re_enqueued_and_then_answered(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    settings = make_settings()
    adapters = build_registry(settings)
    filed = await question(kb_pool, "stuck@example.com")
    recent = await question(kb_pool, "recent@example.com")
    await wedge(kb_pool, filed)
    async with kb_pool.acquire() as conn:  # the recent one is claimed too, but not old yet
        await conn.execute(
            "UPDATE outbox SET lease_until = now() + interval '1 hour' "
            "WHERE payload->>'message_id' = $1",
            str(recent.message_id),
        )
    worker = QueueWorker(kb_pool, settings, embedder, adapters)
    assert await worker.run_once() == 0  # the lease holds it: nobody may claim it

    before = counted("redriven")
    assert await Redriver(kb_pool, settings, adapters).run_once() == (1, 0)
    assert counted("redriven") == before + 1
    async with kb_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT claimed_by, lease_until, payload FROM outbox WHERE payload->>'message_id' = $1",
            str(filed.message_id),
        )
    assert row["lease_until"] is None and row["payload"]["redrives"] == 1

    assert await worker.run_once() == 1
    async with kb_pool.acquire() as conn:
        decision = await conn.fetchval(
            "SELECT decision FROM agent_runs WHERE message_id = $1", filed.message_id
        )
    assert decision == "answer"
    assert await Redriver(kb_pool, settings, adapters).run_once() == (0, 0)


async def test_after_the_last_re_drive_it_is_a_dead_letter_and_a_person_takes_it(
    pool: asyncpg.Pool,
) -> None:
    settings = make_settings(FTE_STUCK_MAX_REDRIVES="2")
    redriver = Redriver(pool, settings, build_registry(settings))
    filed = await question(pool, "wedged@example.com")
    dead_before = counted("dead_lettered")
    for _ in range(2):
        await wedge(pool, filed)
        assert await redriver.run_once() == (1, 0)
    await wedge(pool, filed)
    assert await redriver.run_once() == (0, 1)
    assert counted("dead_lettered") == dead_before + 1
    async with pool.acquire() as conn:
        dead = await conn.fetchrow("SELECT error, payload FROM dead_letters")
        ticket = await conn.fetchrow(
            "SELECT status, escalation_reason FROM tickets WHERE id = $1", filed.ticket_id
        )
        pending = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND processed_at IS NULL"
        )
    assert dead["error"].startswith("stuck: no agent run 10 min after filing, after 2 re-drive")
    assert dead["payload"]["message_id"] == str(filed.message_id)
    assert (ticket["status"], ticket["escalation_reason"]) == ("escalated", "ai_unavailable")
    assert pending == 0
    assert await redriver.run_once() == (0, 0)


async def test_a_silent_or_handled_message_is_never_re_driven(pool: asyncpg.Pool) -> None:
    settings = make_settings()
    filed = await factories.ticket(
        pool,
        "A person has this conversation.",
        channel="chatwoot",
        email="quiet@example.com",
        name=None,
        silent=True,
    )
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET created_at = now() - interval '1 hour' WHERE id = $1",
            filed.message_id,
        )
    assert await Redriver(pool, settings, build_registry(settings)).run_once() == (0, 0)
