"""Every dead-letter path hands the ticket to a person, with a note saying why: nothing is
dropped quietly with its ticket left open."""

from __future__ import annotations

import asyncpg

from fte.bus import dead_letters
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import DeliveryWorker
from tests.channels.whatsapp_twilio.test_whatsapp import queued_reply, twilio_settings
from tests.fixtures.console import signed_in_agent
from tests.fixtures.fake_twilio import FakeTwilio
from tests.worker.test_queue_worker import ask, worker


async def _ticket(pool: asyncpg.Pool, ticket_id: object) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)


async def test_a_message_whose_worker_died_five_times_is_handed_to_a_person(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await ask(kb_pool, "How do I reset my password?")
    async with kb_pool.acquire() as conn:
        # Claimed five times by workers that died holding it: each lease ran out.
        await conn.execute(
            "UPDATE outbox SET claimed_by = 'dead', attempts = 5, "
            "lease_until = now() - interval '1 s' WHERE topic = 'inbound'"
        )
    assert await worker(kb_pool, embedder).run_once() == 1
    async with kb_pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
        told = await conn.fetch(
            "SELECT body, author FROM messages WHERE ticket_id = $1 AND direction = 'outbound'",
            filed.ticket_id,
        )
        runs = await conn.fetchval("SELECT count(*) FROM agent_runs")
    assert "abandoned after 5 attempts" in dead["error"]
    ticket = await _ticket(kb_pool, filed.ticket_id)
    assert ticket["status"] == "escalated" and ticket["escalation_reason"] == "ai_unavailable"
    assert f"dead letter #{dead['id']}" in ticket["handover_note"]
    assert "abandoned after 5 attempts" in ticket["handover_note"]
    # The customer hears a person will reply; the agent may still answer after a replay.
    assert len(told) == 1 and told[0]["author"] == "system" and runs == 0
    # The person who takes it reads why on the ticket.
    async with signed_in_agent(kb_db_url, kb_pool) as console:
        page = await console.get(f"/console/tickets/{filed.ticket_id}")
    assert page.status_code == 200
    assert "The agent could not answer this message" in page.text
    assert "abandoned after 5 attempts" in page.text


async def test_a_reply_that_cannot_be_delivered_hands_the_ticket_to_a_person(
    pool: asyncpg.Pool,
) -> None:
    async with FakeTwilio("AC" + "a" * 32, "twilio-auth-token") as fake:
        fake.fail(400)  # Twilio refuses the number: no retry can help
        (message_id,) = await queued_reply(pool, "hello")
        settings = twilio_settings(fake)
        sender = DeliveryWorker(pool, settings, build_registry(settings))
        assert await sender.run_once() == 1
    async with pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
        ticket_id = await conn.fetchval("SELECT ticket_id FROM messages WHERE id = $1", message_id)
    ticket = await _ticket(pool, ticket_id)
    assert ticket["status"] == "escalated" and ticket["escalation_reason"] == "delivery_failed"
    assert f"dead letter #{dead['id']}" in ticket["handover_note"]
    assert "Twilio 400" in ticket["handover_note"]
