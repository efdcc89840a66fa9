"""The factories write the rows the product reads: a newcomer's test can rely on them."""

from __future__ import annotations

import asyncpg

from fte.agent.repository import runs_for_ticket
from fte.tickets.repository import get_ticket, list_messages
from tests import factories


async def test_a_ticket_a_reply_and_a_run_are_real_rows(pool: asyncpg.Pool) -> None:
    known = await factories.customer(pool, "Kim", email="kim@example.com", phone="+15550100")
    filed = await factories.ticket(pool, "Where is my invoice?", email="kim@example.com")
    assert filed.customer_id == known  # found by the identity, as intake finds a customer
    (reply_id,) = await factories.reply(pool, filed, "Here it is.")
    run_id = await factories.run(pool, filed, decision="escalate", reason="human_requested")
    async with pool.acquire() as conn:
        ticket = await get_ticket(conn, filed.ticket_id)
        messages = await list_messages(conn, filed.ticket_id)
        (run,) = await runs_for_ticket(conn, filed.ticket_id)
        waiting = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND processed_at IS NULL"
        )
    assert ticket is not None and ticket["status"] == "escalated"
    assert [m["id"] for m in messages] == [filed.message_id, reply_id]
    assert run["id"] == run_id and run["reason"] == "human_requested"
    assert waiting == 0  # the run completed the message's job, as a worker's decision does


async def test_a_thread_joins_its_open_ticket(pool: asyncpg.Pool) -> None:
    first = await factories.ticket(pool, "Hello", phone="+15550101", channel="whatsapp", thread="t")
    second = await factories.ticket(
        pool, "Again", phone="+15550101", channel="whatsapp", thread="t"
    )
    assert second.ticket_id == first.ticket_id and second.message_id != first.message_id
