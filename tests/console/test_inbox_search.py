"""The inbox's search as an agent uses it: any word of any message on a ticket, the start of a
word, a ticket's number; words a customer had erased are gone from it, and a message full of
words is still filed."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests import factories
from tests.cli.test_operator_commands import fte
from tests.fixtures.console import signed_in_agent


@pytest.fixture
async def console(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_agent(db_url, pool) as client:
        yield client


async def found(console: httpx.AsyncClient, words: str, status: str = "") -> list[str]:
    """The subjects the inbox lists for a search, in its order."""
    page = await console.get("/console", params={"q": words, "status": status})
    assert page.status_code == 200
    return re.findall(r'class="subject"><a href="[^"]*">([^<]*)</a>', page.text)


async def test_search_finds_any_word_of_any_message_its_start_and_the_ticket_number(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await factories.ticket(
        pool, "It prints blank pages.", email="pia@example.com", subject="Printer", thread="pia"
    )
    await factories.ticket(
        pool, "Charged twice this month.", email="ivo@example.com", subject="Invoice"
    )
    kettle = await factories.ticket(
        pool, "The kettle is broken.", email="kai@example.com", subject="Kettle"
    )
    # Follow-ups on the same conversation: their words count for the ticket too.
    for follow_up in ("Update: the Wi-Fi light blinks orange.", "And the display says E-42."):
        await factories.ticket(pool, follow_up, email="pia@example.com", thread="pia")
    await factories.reply(pool, kettle, "Please send us the serial number from its base.")

    assert await found(console, "blank") == ["Printer"]
    assert await found(console, "BLANK pages") == ["Printer"]  # any case, every word
    assert await found(console, "pages blank") == ["Printer"]  # any order
    assert await found(console, "display e-42") == ["Printer"]  # a later message's words
    assert await found(console, "charg") == ["Invoice"]  # the start of a word
    assert await found(console, "serial") == ["Kettle"]  # what we replied
    assert await found(console, "kettle") == ["Kettle"]  # the subject
    assert await found(console, "blank kettle") == []  # words of two tickets
    assert await found(console, f"#{kettle.ticket_number}") == ["Kettle"]
    assert await found(console, str(kettle.ticket_number)) == ["Kettle"]
    assert await found(console, "***") == []  # no words: nothing, not everything
    assert await found(console, "²") == []  # a digit, but no ticket number

    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'resolved' WHERE id = $1", kettle.ticket_id)
    assert await found(console, "serial") == []  # the inbox leaves solved tickets out
    assert await found(console, "serial", status="resolved") == ["Kettle"]


async def test_an_erased_customers_words_cannot_be_found(
    console: httpx.AsyncClient, pool: asyncpg.Pool, db_url: str
) -> None:
    filed = await factories.ticket(
        pool, "My name is Zebulon Quist, card 4111.", email="zq@example.com", subject="Kettle"
    )
    assert await found(console, "zebulon") == ["Kettle"]

    code, said = await asyncio.to_thread(
        fte, db_url, "customer", "forget", str(filed.customer_id), "--yes"
    )
    assert code == 0, said
    assert await found(console, "zebulon") == []
    assert await found(console, "4111") == []
    assert await found(console, "kettle") == []  # the subject was erased too


async def test_a_message_full_of_words_is_filed_and_found_by_its_first_words(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    # Fourteen messages of 100,000 characters of random words would be 1.3 MB of words, more
    # than a tsvector holds: past the ticket's cap later messages are still filed, only their
    # words are not added.
    noise = " ".join(secrets.token_hex(6) for _ in range(20_000))
    first = await factories.ticket(
        pool, "Printer jam. " + noise, email="flood@example.com", subject="Printer", thread="flood"
    )
    for _ in range(13):
        more = " ".join(secrets.token_hex(6) for _ in range(20_000))
        again = await factories.ticket(pool, more, email="flood@example.com", thread="flood")
        assert again.ticket_id == first.ticket_id
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE ticket_id = $1", first.ticket_id
            )
            == 14
        )
    assert await found(console, "jam") == ["Printer"]
