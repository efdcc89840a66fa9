"""A ticket's lifecycle on the real database: answered, it waits for the customer; unanswered for
FTE_AUTO_RESOLVE_HOURS it is resolved (by the AI, or by a person when one wrote on it); a reply
reopens it; a person resolving it in the console is a person's solve."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import REGISTRY

from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from fte.worker.auto_resolve import AutoResolver
from tests import factories
from tests.conftest import make_settings
from tests.fixtures.console import csrf_of, signed_in_agent

HOURS = 72


def _resolver(pool: asyncpg.Pool, at: datetime) -> AutoResolver:
    return AutoResolver(pool, make_settings(FTE_AUTO_RESOLVE_HOURS=str(HOURS)), clock=lambda: at)


async def _answered(pool: asyncpg.Pool, thread: str, *, by: str = "agent") -> uuid.UUID:
    """A customer's question on `thread`, answered (by the agent or a person): pending."""
    filed = await factories.ticket(pool, "Where is my order?", thread=thread)
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO messages (conversation_id, ticket_id, channel, direction, author, body)
            VALUES ($1, $2, 'web_form', 'outbound', $3, 'It ships today.')
            """,
            filed.conversation_id,
            filed.ticket_id,
            by,
        )
        await conn.execute("UPDATE tickets SET status = 'pending' WHERE id = $1", filed.ticket_id)
    return filed.ticket_id


async def _ticket(pool: asyncpg.Pool, ticket_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, resolved_at, solved_by FROM tickets WHERE id = $1", ticket_id
        )
    assert row is not None
    return row


def _counted(channel: str, solved_by: str) -> float:
    value = REGISTRY.get_sample_value(
        "fte_tickets_auto_resolved_total", {"channel": channel, "solved_by": solved_by}
    )
    return value or 0.0


async def test_an_answered_ticket_is_resolved_by_the_ai_after_the_hours_and_only_then(
    pool: asyncpg.Pool,
) -> None:
    ticket_id = await _answered(pool, "t-ai")
    now = datetime.now(UTC)
    assert await _resolver(pool, now + timedelta(hours=HOURS - 1)).run_once() == 0
    assert (await _ticket(pool, ticket_id))["status"] == "pending"

    before = _counted("web_form", "ai")
    later = now + timedelta(hours=HOURS + 1)
    assert await _resolver(pool, later).run_once() == 1
    row = await _ticket(pool, ticket_id)
    async with pool.acquire() as conn:
        answered_at = await conn.fetchval(
            "SELECT max(created_at) FROM messages WHERE ticket_id = $1", ticket_id
        )
    # Solved when it became due, not when the loop happened to run.
    due = answered_at + timedelta(hours=HOURS)
    assert (row["status"], row["solved_by"], row["resolved_at"]) == ("resolved", "ai", due)
    assert _counted("web_form", "ai") == before + 1
    async with pool.acquire() as conn:
        audit = await conn.fetch(
            "SELECT actor, action, detail FROM audit_log WHERE ticket_id = $1", ticket_id
        )
        learn = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'learn' AND payload->>'ticket_id' = $1",
            str(ticket_id),
        )
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("system:auto-resolve", "ticket.auto_resolve")
    ]
    assert learn == 1
    # Idempotent: a second pass (or another worker's) finds nothing more to do.
    assert await _resolver(pool, later).run_once() == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == 1


async def test_a_ticket_a_person_wrote_on_is_solved_by_a_person(pool: asyncpg.Pool) -> None:
    ticket_id = await _answered(pool, "t-person", by="human")
    assert await _resolver(pool, datetime.now(UTC) + timedelta(hours=HOURS + 1)).run_once() == 1
    assert (await _ticket(pool, ticket_id))["solved_by"] == "person"


async def test_only_tickets_waiting_for_the_customer_are_resolved_in_batches(
    pool: asyncpg.Pool,
) -> None:
    waiting = [await _answered(pool, f"t-{i}") for i in range(5)]
    open_one = await factories.ticket(pool, "Still with the agent", thread="t-open")
    escalated = await factories.ticket(pool, "A lawyer will call", thread="t-esc")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE tickets SET status = 'escalated' WHERE id = $1", escalated.ticket_id
        )
    resolver = _resolver(pool, datetime.now(UTC) + timedelta(hours=HOURS + 1))
    assert await resolver.run_once(batch=2) == 5
    assert {(await _ticket(pool, t))["status"] for t in waiting} == {"resolved"}
    assert (await _ticket(pool, open_one.ticket_id))["status"] == "open"
    assert (await _ticket(pool, escalated.ticket_id))["status"] == "escalated"


def _reply(thread: str, body: str) -> InboundMessage:
    return InboundMessage(
        channel="web_form", identity=Identity("email", factories.DEFAULT_EMAIL), body=body,
        thread_key=thread,
    )  # fmt: skip


async def test_a_customer_reply_reopens_a_waiting_or_solved_ticket(pool: asyncpg.Pool) -> None:
    ticket_id = await _answered(pool, "t-reopen")
    again = await file_inbound(pool, _reply("t-reopen", "It did not arrive"))
    assert again.ticket_id == ticket_id
    assert (await _ticket(pool, ticket_id))["status"] == "open"

    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'pending' WHERE id = $1", ticket_id)
    await _resolver(pool, datetime.now(UTC) + timedelta(hours=HOURS + 1)).run_once()
    assert (await _ticket(pool, ticket_id))["solved_by"] == "ai"
    back = await file_inbound(pool, _reply("t-reopen", "Sorry, one more thing"))
    assert back.ticket_id == ticket_id
    row = await _ticket(pool, ticket_id)
    assert (row["status"], row["resolved_at"], row["solved_by"]) == ("open", None, None)


async def test_a_reply_long_after_the_solve_or_on_a_closed_ticket_opens_a_new_one(
    pool: asyncpg.Pool,
) -> None:
    old = await _answered(pool, "t-old")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE tickets SET status = 'resolved', solved_by = 'ai', "
            "resolved_at = now() - interval '8 days' WHERE id = $1",
            old,
        )
    later = await file_inbound(pool, _reply("t-old", "A new question"))
    assert later.ticket_id != old
    assert (await _ticket(pool, old))["status"] == "resolved"

    closed = await _answered(pool, "t-closed")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'closed' WHERE id = $1", closed)
    after = await file_inbound(pool, _reply("t-closed", "Hello again"))
    assert after.ticket_id != closed


async def test_a_person_resolving_in_the_console_is_a_persons_solve(
    db_url: str, pool: asyncpg.Pool
) -> None:
    ticket_id = await _answered(pool, "t-console")  # answered by the AI, closed by a person
    async with signed_in_agent(db_url, pool) as staff:
        page = await staff.get(f"/console/tickets/{ticket_id}")
        changed = await staff.post(
            f"/console/tickets/{ticket_id}",
            data={"status": "resolved", "priority": "medium", "csrf": csrf_of(page)},
        )
        assert changed.status_code == 303
    row = await _ticket(pool, ticket_id)
    assert (row["status"], row["solved_by"]) == ("resolved", "person")
    assert row["resolved_at"] is not None
