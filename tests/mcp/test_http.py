"""The MCP server at /mcp of the real API, driven by the official SDK's streamable HTTP client:
a key is required, each tool checks its scope, and every tool answers JSON text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from fte.auth import service as auth
from fte.db import transaction
from tests.conftest import make_settings, serve_app
from tests.mcp.helpers import TOOLS, api_key, data, seed, text


@asynccontextmanager
async def mcp_session(base: str, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{base}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_an_admin_key_lists_and_calls_every_tool(db_url: str, pool: asyncpg.Pool) -> None:
    seeded = await seed(pool)
    key = await api_key(pool, "admin", ["admin"])
    async with (
        serve_app(db_url, make_settings()) as base,
        mcp_session(base, {"Authorization": f"Bearer {key}"}) as mcp,
    ):
        listed = await mcp.list_tools()
        assert {t.name for t in listed.tools} == TOOLS

        customer = data(await mcp.call_tool("get_customer", {"key": "ana@example.com"}))
        assert customer["id"] == seeded.customer_id
        assert customer["purchases"]["lifetime_value"] == 4000.0
        assert customer["predictions"]["segment"] == "at_risk"

        found = data(await mcp.call_tool("search_customers", {"ltv_min": 1000, "limit": 5}))
        assert [c["id"] for c in found["customers"]] == [seeded.customer_id]
        none = data(await mcp.call_tool("search_customers", {"churn_risk_min": 0.9}))
        assert none["count"] == 0

        ticket = data(await mcp.call_tool("get_ticket", {"ticket": f"#{seeded.ticket_number}"}))
        assert ticket["id"] == seeded.ticket_id
        assert "blue kettle" in ticket["messages"][0]["body"]

        hits = data(await mcp.call_tool("search_tickets", {"q": "kettle", "status": "open"}))
        assert [t["number"] for t in hits["tickets"]] == [seeded.ticket_number]

        kb = data(await mcp.call_tool("search_knowledge_base", {"query": "refund"}))
        assert kb["articles"][0]["title"] == "Refunds"

        note = data(
            await mcp.call_tool(
                "add_internal_note", {"ticket": seeded.ticket_id, "text": "VIP: call her back"}
            )
        )
        assert note["author"].startswith("apikey:")
        again = data(await mcp.call_tool("get_ticket", {"ticket": seeded.ticket_id}))
        assert [n["body"] for n in again["internal_notes"]] == ["VIP: call her back"]
        # A note is for staff: it is not a message, so no channel can ever send it.
        assert all("VIP" not in m["body"] for m in again["messages"])
    async with pool.acquire() as conn:
        audited = await conn.fetchrow(
            "SELECT actor, ticket_id::text FROM audit_log WHERE action = 'ticket.note'"
        )
    assert audited is not None
    assert tuple(audited) == (note["author"], seeded.ticket_id)


async def test_a_read_key_is_refused_the_admin_tool_and_other_scopes(
    db_url: str, pool: asyncpg.Pool
) -> None:
    seeded = await seed(pool)
    key = await api_key(pool, "agent", ["customers:read"])
    async with (
        serve_app(db_url, make_settings()) as base,
        mcp_session(base, {"X-API-Key": key}) as mcp,
    ):
        assert not (await mcp.call_tool("get_customer", {"key": seeded.customer_id})).is_error
        refused = await mcp.call_tool(
            "add_internal_note", {"ticket": seeded.ticket_id, "text": "sneaky"}
        )
        assert refused.is_error
        assert "admin" in text(refused)
        other = await mcp.call_tool("get_ticket", {"ticket": seeded.ticket_id})
        assert other.is_error
        assert "tickets:read" in text(other)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ticket_notes") == 0


async def test_clear_errors_for_unknown_records_and_bad_input(
    db_url: str, pool: asyncpg.Pool
) -> None:
    key = await api_key(pool, "admin", None)  # made before scopes: its role's access
    async with (
        serve_app(db_url, make_settings()) as base,
        mcp_session(base, {"X-API-Key": key}) as mcp,
    ):
        unknown = await mcp.call_tool("get_customer", {"key": "nobody@example.com"})
        assert unknown.is_error
        assert "no customer is known by 'nobody@example.com'" in text(unknown)
        missing = await mcp.call_tool("get_ticket", {"ticket": "99999"})
        assert missing.is_error
        assert "no ticket has number 99999" in text(missing)
        bad = await mcp.call_tool("search_tickets", {"limit": 500})
        assert bad.is_error
        assert "limit" in text(bad)
        status = await mcp.call_tool("search_tickets", {"status": "lost"})
        assert status.is_error
        assert "status: one of open" in text(status)


async def test_no_key_is_401_and_a_revoked_or_scopeless_key_is_refused(
    db_url: str, pool: asyncpg.Pool
) -> None:
    scopeless = await api_key(pool, "agent", [])
    revoked = await api_key(pool, "admin", ["admin"])
    async with transaction(pool) as conn:
        key_id = await conn.fetchval("SELECT id FROM api_keys WHERE name = 'mcp admin'")
        assert await auth.revoke_api_key(conn, key_id)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, headers=accept) as client,
    ):
        none = await client.post("/mcp", json=body)
        assert none.status_code == 401
        assert "X-API-Key" in none.json()["detail"]
        wrong = await client.post("/mcp", json=body, headers={"X-API-Key": "fte_nope_nope"})
        assert wrong.status_code == 401
        gone = await client.post("/mcp", json=body, headers={"Authorization": f"Bearer {revoked}"})
        assert gone.status_code == 401
        assert gone.json()["detail"] == "invalid or revoked API key"
        refused = await client.post("/mcp", json=body, headers={"X-API-Key": scopeless})
        assert refused.status_code == 403


async def test_a_key_past_its_rate_is_refused_with_the_ratelimit_headers(
    db_url: str, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        key = await auth.create_api_key(conn, "mcp slow", "agent", ["customers:read"], 2)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "X-API-Key": key.key}
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, headers=headers) as client,
    ):
        answers = [await client.post("/mcp", json=body) for _ in range(3)]
    assert all(a.status_code != 429 for a in answers[:2])
    refused = answers[2]
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Limit"] == "2"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
