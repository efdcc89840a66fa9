"""The intake transaction under concurrency and failure."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from tests.fixtures.db import row_counts


def message(email: str, body: str = "Hello", **kw: object) -> InboundMessage:
    return InboundMessage(
        channel="web_form", identity=Identity("email", email), body=body, customer_name="Lin", **kw
    )  # type: ignore[arg-type]


async def test_first_contacts_at_the_same_moment_make_one_customer(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(
        *[file_inbound(pool, message("new@example.com", f"q{i}")) for i in range(8)]
    )
    assert len({r.customer_id for r in results}) == 1
    assert len({r.ticket_id for r in results}) == 8
    counts = await row_counts(pool)
    assert (counts["customers"], counts["customer_identities"]) == (1, 1)


async def test_a_redelivered_message_is_filed_once(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(
        *[file_inbound(pool, message("dup@example.com", external_id="SM123")) for _ in range(6)]
    )
    assert [r.duplicate for r in results].count(False) == 1
    assert len({r.message_id for r in results}) == 1
    counts = await row_counts(pool)
    assert (counts["tickets"], counts["messages"], counts["outbox"]) == (1, 1, 1)


async def test_a_failure_inside_the_transaction_leaves_nothing_behind(pool: asyncpg.Pool) -> None:
    # A priority the schema refuses fails the last statement: the customer row goes too.
    with pytest.raises(asyncpg.CheckViolationError):
        await file_inbound(pool, message("half@example.com", priority="whenever"))
    assert set((await row_counts(pool)).values()) == {0}


async def test_a_reply_in_the_same_thread_reopens_the_pending_ticket(pool: asyncpg.Pool) -> None:
    first = await file_inbound(pool, message("t@example.com", thread_key="wa:1"))
    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'pending'")
    second = await file_inbound(
        pool, message("t@example.com", "thanks, one more thing", thread_key="wa:1")
    )
    assert second.ticket_id == first.ticket_id
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM tickets") == "open"
        # Closed is final: a reply starts a new ticket (a solved one reopens: tests/tickets).
        await conn.execute("UPDATE tickets SET status = 'closed'")
    third = await file_inbound(pool, message("t@example.com", "new problem", thread_key="wa:1"))
    assert third.ticket_id != first.ticket_id and third.conversation_id == first.conversation_id


async def test_nul_characters_from_a_broken_email_are_dropped_not_fatal(
    pool: asyncpg.Pool,
) -> None:
    filed = await file_inbound(
        pool,
        InboundMessage(
            channel="email",
            identity=Identity("email", "nul@example.com"),
            customer_name="N\x00ed",
            subject="Help\x00",
            body="My files\x00 are gone",
            external_id="<nul@example.com>",
            metadata={"reply_to": "nul@example.com", "headers": ["X-Odd: a\x00b"]},
        ),
    )
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT body, metadata FROM messages WHERE id = $1", filed.message_id
        )
    assert row["body"] == "My files are gone"
    assert row["metadata"]["headers"] == ["X-Odd: ab"]
