"""`POST /api/customers/events` on the real HTTP server: one order pushed at a time, 201 when
new, 200 when known (updated or unchanged), 422 naming the field, and only with a key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service as auth
from tests import factories
from tests.conftest import make_settings, serve_app

ORDER = {
    "email": "Ana@Example.com",
    "order_id": "E-1",
    "amount": 129.9,
    "currency": "eur",
    "ordered_at": "2026-05-01T10:42:00Z",
    "plan": "pro",
    "status": "paid",
    "name": "Ana Silva",
}


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


@pytest.fixture
async def key(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        made = await auth.create_api_key(conn, "shop", "admin")
    return {"X-API-Key": made.key}


async def test_an_order_is_stored_once_and_updated_when_it_changes(
    site: httpx.AsyncClient, pool: asyncpg.Pool, key: dict[str, str]
) -> None:
    first = await site.post("/api/customers/events", json=ORDER, headers=key)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "new" and first.json()["customer_created"] is True
    again = await site.post("/api/customers/events", json=ORDER, headers=key)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    assert again.json()["customer_id"] == first.json()["customer_id"]
    refunded = await site.post(
        "/api/customers/events", json={**ORDER, "status": "refunded"}, headers=key
    )
    assert refunded.status_code == 200 and refunded.json()["status"] == "updated"
    async with pool.acquire() as conn:
        order = await conn.fetchrow("SELECT * FROM orders WHERE order_id = 'E-1'")
        customer = await conn.fetchrow(
            "SELECT * FROM customers WHERE id = $1", order["customer_id"]
        )
        identity = await conn.fetchval(
            "SELECT value FROM customer_identities WHERE customer_id = $1", customer["id"]
        )
    assert (order["status"], str(order["amount"]), order["currency"]) == (
        "refunded",
        "129.90",
        "EUR",
    )
    assert order["source"] == "event"
    assert identity == "ana@example.com" and customer["plan"] == "pro"


async def test_an_order_joins_a_known_customer_by_email_or_external_id(
    site: httpx.AsyncClient, pool: asyncpg.Pool, key: dict[str, str]
) -> None:
    filed = await factories.ticket(pool, email="ana@example.com")
    r = await site.post(
        "/api/customers/events", json={**ORDER, "external_id": "CRM-1"}, headers=key
    )
    assert r.status_code == 201 and r.json()["customer_id"] == str(filed.customer_id)
    by_id = {**ORDER, "email": None, "external_id": "CRM-1", "order_id": "E-2"}
    r = await site.post("/api/customers/events", json=by_id, headers=key)
    assert r.status_code == 201 and r.json()["customer_id"] == str(filed.customer_id)
    assert r.json()["customer_created"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "12,50"}, "amount"),
        ({"ordered_at": "yesterday"}, "ordered_at"),
        ({"currency": "euro"}, "currency"),
        ({"email": None}, "email"),
        ({"order_id": None}, "order_id"),
        ({"coupon": "X"}, "coupon"),
    ],
)
async def test_a_bad_field_is_a_422_naming_it(
    site: httpx.AsyncClient, pool: asyncpg.Pool, key: dict[str, str], change: dict, field: str
) -> None:
    body = {k: v for k, v in {**ORDER, **change}.items() if v is not None}
    r = await site.post("/api/customers/events", json=body, headers=key)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["detail"]] == [field]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0


async def test_only_a_key_may_push(site: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    assert (await site.post("/api/customers/events", json=ORDER)).status_code == 401
    bad = {"X-API-Key": "fte_not_a_key"}
    assert (await site.post("/api/customers/events", json=ORDER, headers=bad)).status_code == 401
    async with pool.acquire() as conn:
        agent_key = await auth.create_api_key(conn, "bot", "agent")
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
    r = await site.post("/api/customers/events", json=ORDER, headers={"X-API-Key": agent_key.key})
    assert r.status_code == 403
