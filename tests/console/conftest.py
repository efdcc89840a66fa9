"""A console client signed in as an agent, on a database holding the demo knowledge base."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, sign_in


@pytest.fixture
async def console(kb_db_url: str, kb_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with kb_pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada", "agent", PASSWORD)
    async with (
        serve_app(kb_db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        await sign_in(client, "ada@example.com")
        yield client
