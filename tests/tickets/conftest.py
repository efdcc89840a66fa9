"""A console client signed in as an agent, for the tests that look at a ticket's priority."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from tests.fixtures.console import signed_in_agent


@pytest.fixture
async def console(kb_db_url: str, kb_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in_agent(kb_db_url, kb_pool) as client:
        yield client
