"""The inbox: who waits longest for a person, SLA breaches, and rows that stay current."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.config import Settings
from tests import factories
from tests.fixtures.console import signed_in_agent


@pytest.fixture
async def console(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_agent(db_url, pool) as client:
        yield client


async def ask(pool: asyncpg.Pool, subject: str, priority: str = "medium") -> None:
    await factories.ticket(
        pool,
        subject,
        email=f"{priority}@example.com",
        name="Sam",
        subject=subject,
        priority=priority,
    )


def rows(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", r) for r in re.findall(r"<tr class=.*?</tr>", html, re.S)]


async def test_breached_slas_are_highlighted_and_come_before_priority(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await ask(pool, "Urgent but answered", "urgent")
    await ask(pool, "High and late", "high")
    await ask(pool, "Urgent and fresh", "urgent")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE tickets SET created_at = now() - interval '5 hours' "
            "WHERE subject = 'High and late'"
        )
        await conn.execute(
            "UPDATE tickets SET first_response_at = now() WHERE subject = 'Urgent but answered'"
        )

    listed = rows((await console.get("/console")).text)
    assert "High and late" in listed[0] and "breached" in listed[0]
    assert "overdue 1 h 0 min" in listed[0] or "overdue 0 h 59 min" in listed[0]
    # Then by priority, the longest waiting first.
    answered, fresh = listed[1], listed[2]
    assert "Urgent but answered" in answered and 'First response">—</td>' in answered
    assert "Urgent and fresh" in fresh and "due in 59 min" in fresh
    assert "breached" not in answered + fresh


async def test_the_rows_endpoint_shows_new_tickets_and_needs_a_session(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    page = await console.get("/console")
    assert 'data-src="/console/inbox/rows?status=&amp;q=&amp;assignee="' in page.text
    assert (await console.get("/console/static/console.js")).status_code == 200
    await ask(pool, "Arrived after the page loaded")
    fresh = await console.get("/console/inbox/rows", params={"status": "", "q": ""})
    assert fresh.status_code == 200 and "Arrived after the page loaded" in fresh.text
    async with httpx.AsyncClient(base_url=str(console.base_url)) as stranger:
        assert (await stranger.get("/console/inbox/rows")).status_code == 303


def test_sla_minutes_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTE_SLA_MINUTES", '{"urgent": 15, "high": 30}')
    assert Settings().sla_minutes == {"urgent": 15, "high": 30}
    monkeypatch.setenv("FTE_SLA_MINUTES", '{"critical": 5}')
    with pytest.raises(ValueError, match="FTE_SLA_MINUTES"):
        Settings()
