"""The Customer Intelligence API through a real HTTP server on the real database: a profile by
any key, search with filters, sorts and cursor pages, scoped keys and their rate limits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from fte.auth import service
from fte.customers.profile_cache import invalidate_profiles
from fte.db import transaction
from tests import factories
from tests.conftest import make_settings, serve_app
from tests.fixtures.waiting import eventually

SEGMENTS = ("champion", "at_risk", "new")


async def seed_profiles(pool: asyncpg.Pool, count: int) -> None:
    """`count` customers with scored profiles: values repeat (ties the cursor must break),
    every seventh churn risk is unknown."""
    async with transaction(pool) as conn:
        await conn.execute(
            """
            WITH made AS (
                INSERT INTO customers (name, email, external_id, plan)
                SELECT 'Person ' || i, 'p' || i || '@example.com', 'EXT-' || i, 'pro'
                  FROM generate_series(1, $1) i
                RETURNING id, email, external_id
            ), ids AS (
                INSERT INTO customer_identities (customer_id, kind, value)
                SELECT id, 'email', email FROM made
            )
            INSERT INTO customer_profiles (customer_id, orders, lifetime_value, avg_order_value,
                currency, last_order_at, churn_risk, segment, value_percentile)
            SELECT id, n % 9 + 1, (n * 37) % 50, 10, 'EUR', now() - n * interval '1 day',
                   CASE WHEN n % 7 = 0 THEN NULL ELSE ((n * 13) % 100) / 100.0 END,
                   ($2::text[])[n % 3 + 1], 0.5
              FROM (SELECT id, substr(external_id, 5)::int AS n FROM made) m
            """,
            count,
            list(SEGMENTS),
        )


async def new_key(
    pool: asyncpg.Pool, scopes: list[str] | None, role: str = "admin", rate: int | None = None
) -> str:
    async with transaction(pool) as conn:
        made = await service.create_api_key(conn, "test", role, scopes, rate)  # type: ignore[arg-type]
    return made.key


@pytest.fixture
async def served(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(db_url, make_settings(FTE_API_KEY_RATE_LIMIT="0")) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        yield client


async def test_a_profile_is_found_by_id_email_phone_or_external_id(
    served: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    filed = await factories.ticket(pool, email="ada@example.com", phone=None)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET external_id = 'CRM-1815' WHERE id = $1", filed.customer_id
        )
        await conn.execute(
            "INSERT INTO customer_identities (customer_id, kind, value) VALUES ($1, 'phone', $2)",
            filed.customer_id,
            "+14155550100",
        )
    headers = {"X-API-Key": await new_key(pool, ["customers:read"])}
    for key in (str(filed.customer_id), "ADA@example.com", "+14155550100", "CRM-1815"):
        answer = await served.get(f"/api/customers/{key}", headers=headers)
        assert answer.status_code == 200, (key, answer.text)
        assert answer.json()["id"] == str(filed.customer_id)
        assert answer.json()["support"]["tickets_90d"] == 1
    missing = await served.get("/api/customers/nobody@example.com", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == "no customer is known by this key"


async def _all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/api/customers", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= params["limit"]
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the cursor never ended")


@pytest.mark.parametrize(
    ("params", "expected_sql", "sort_key", "descending"),
    [
        ({"sort": "-value"}, "TRUE", "lifetime_value", True),
        ({"sort": "value", "ltv_min": 20}, "p.lifetime_value >= 20", "lifetime_value", False),
        (
            {"sort": "-risk", "churn_risk_min": 0.5, "segment": "at_risk"},
            "p.churn_risk >= 0.5 AND p.segment = 'at_risk'",
            "churn_risk",
            True,
        ),
        ({"sort": "risk"}, "TRUE", "churn_risk", False),
        ({"sort": "-value", "q": "person 1"}, "c.name LIKE 'Person 1%'", "lifetime_value", True),
        ({"sort": "value", "q": "ext-2"}, "FALSE", "lifetime_value", False),
        ({"sort": "value", "q": "EXT-2"}, "c.external_id LIKE 'EXT-2%'", "lifetime_value", False),
        ({"sort": "-value", "q": "P3"}, "c.email LIKE 'p3%'", "lifetime_value", True),
        ({"sort": "-last_contact"}, "TRUE", "last_contact_at", True),
    ],
)
async def test_search_pages_cover_every_match_exactly_once_in_order(
    served: httpx.AsyncClient,
    pool: asyncpg.Pool,
    params: dict[str, Any],
    expected_sql: str,
    sort_key: str,
    descending: bool,
) -> None:
    await seed_profiles(pool, 120)
    async with pool.acquire() as conn:
        expected = {
            str(r["id"])
            for r in await conn.fetch(
                "SELECT c.id FROM customers c JOIN customer_profiles p ON p.customer_id = c.id "
                f"WHERE {expected_sql}"
            )
        }
    headers = {"X-API-Key": await new_key(pool, ["customers:read"])}
    items = await _all_pages(served, headers, limit=7, **params)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "a customer appeared on two pages"
    assert set(ids) == expected
    keys = [
        (i[sort_key] if i[sort_key] is not None else (-1 if sort_key != "last_contact_at" else ""))
        for i in items
    ]
    assert keys == sorted(keys, reverse=descending)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=cheapest", "sort"),
        ("ltv_min=-1", "ltv_min"),
        ("churn_risk_min=2", "churn_risk_min"),
        ("limit=0", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("q=", "q"),
    ],
)
async def test_a_bad_search_parameter_is_a_422_naming_it(
    served: httpx.AsyncClient, pool: asyncpg.Pool, query: str, field: str
) -> None:
    headers = {"X-API-Key": await new_key(pool, ["customers:read"])}
    answer = await served.get(f"/api/customers?{query}", headers=headers)
    assert answer.status_code == 422, answer.text
    assert [d["field"] for d in answer.json()["detail"]] == [field]


async def test_a_cursor_of_another_sort_is_refused(
    served: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await seed_profiles(pool, 5)
    headers = {"X-API-Key": await new_key(pool, ["customers:read"])}
    first = await served.get("/api/customers?limit=2&sort=value", headers=headers)
    cursor = first.json()["next_cursor"]
    answer = await served.get(f"/api/customers?sort=-risk&cursor={cursor}", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "cursor"


async def test_scopes_decide_what_a_key_may_read(
    served: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    filed = await factories.ticket(pool, email="cy@example.com")
    customers_only = {"X-API-Key": await new_key(pool, ["customers:read"])}
    tickets_only = {"X-API-Key": await new_key(pool, ["tickets:read"])}
    admin = {"X-API-Key": await new_key(pool, ["admin"])}
    legacy_admin = {"X-API-Key": await new_key(pool, None, "admin")}
    profile, tickets = "/api/customers/cy@example.com", "/api/customers/cy@example.com/tickets"

    assert (await served.get(profile)).status_code == 401
    assert (await served.get(profile, headers={"X-API-Key": "fte_x_forged"})).status_code == 401
    refused = await served.get(profile, headers=tickets_only)
    assert refused.status_code == 403
    assert refused.json()["detail"] == {"missing_scope": "customers:read"}
    refused = await served.get(tickets, headers=customers_only)
    assert refused.status_code == 403
    assert "tickets:read" in refused.json()["error"]
    assert (await served.get(profile, headers=customers_only)).status_code == 200
    answer = await served.get(tickets, headers=tickets_only)
    assert answer.status_code == 200
    assert [t["id"] for t in answer.json()["tickets"]] == [str(filed.ticket_id)]
    for key in (admin, legacy_admin):
        assert (await served.get(profile, headers=key)).status_code == 200
        assert (await served.get(tickets, headers=key)).status_code == 200
        assert (await served.get("/api/admin/cache/stats", headers=key)).status_code == 200
    # A read-only key is no admin key.
    assert (await served.get("/api/admin/cache/stats", headers=customers_only)).status_code == 403
    assert (await served.get("/api/admin/db/pool", headers=tickets_only)).status_code == 403


async def test_a_key_past_its_rate_gets_429_with_the_ratelimit_headers(
    db_url: str, pool: asyncpg.Pool
) -> None:
    await factories.ticket(pool, email="dee@example.com")
    limited = {"X-API-Key": await new_key(pool, ["customers:read"], rate=3)}
    by_default = {"X-API-Key": await new_key(pool, ["customers:read"])}
    settings = make_settings(FTE_API_KEY_RATE_LIMIT="100")
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        url = "/api/customers/dee@example.com"
        first = await client.get(url, headers=limited)
        if int(first.headers["RateLimit-Reset"]) < 5:
            # Too near the end of this minute's window: start in the next one.
            reset = int(first.headers["RateLimit-Reset"])
            await asyncio.sleep(reset + 0.5)
            first = await client.get(url, headers=limited)
        answers = [first] + [await client.get(url, headers=limited) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
        assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
        refused = answers[-1]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
        assert refused.json()["error"] == "rate limit exceeded"
        # Another key has its own count, under the default limit.
        other = await client.get(url, headers=by_default)
        assert other.status_code == 200
        assert other.headers["RateLimit-Limit"] == "100"
        assert other.headers["RateLimit-Remaining"] == "99"


async def test_profiles_are_cached_until_rescoring_invalidates_them(
    served: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await seed_profiles(pool, 3)
    headers = {"X-API-Key": await new_key(pool, ["admin"])}
    url = "/api/customers/p1@example.com"
    before = (await served.get(url, headers=headers)).json()
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customer_profiles SET lifetime_value = 999 FROM customers c "
            "WHERE c.id = customer_id AND c.email = 'p1@example.com'"
        )
    cached = (await served.get(url, headers=headers)).json()
    assert cached == before  # served from the cache, not PostgreSQL
    stats = (await served.get("/api/admin/cache/stats", headers=headers)).json()
    assert stats["backend"] == "memory"
    assert stats["hits"] >= 1
    await invalidate_profiles(make_settings())
    fresh = (await served.get(url, headers=headers)).json()
    assert fresh["purchases"]["lifetime_value"] == 999.0


async def test_the_openapi_document_describes_the_customer_api(
    served: httpx.AsyncClient,
) -> None:
    doc = (await served.get("/openapi.json")).json()
    search = doc["paths"]["/api/customers"]["get"]
    assert {"200", "401", "403", "422", "429"} <= set(search["responses"])
    assert search["summary"].startswith("Search customers")
    lookup = doc["paths"]["/api/customers/{key}"]["get"]
    assert "404" in lookup["responses"]
    schema = doc["components"]["schemas"]["CustomerProfile"]
    assert schema["examples"][0]["purchases"]["lifetime_value"] == 5120.0
    assert "/api/customers/{key}/tickets" in doc["paths"]


async def test_a_health_report_names_the_in_process_cache(served: httpx.AsyncClient) -> None:
    body = (await served.get("/health")).json()
    assert body["cache"] == "memory"


async def test_pool_figures_are_for_admins(served: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    headers = {"X-API-Key": await new_key(pool, ["admin"])}
    body = await eventually(lambda: _pool(served, headers), within=10, what="pool figures")
    assert body["max"] == 10
    assert body["in_use"] == body["size"] - body["idle"]


async def _pool(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any] | None:
    answer = await client.get("/api/admin/db/pool", headers=headers)
    return answer.json() if answer.status_code == 200 else None


def test_decimal_values_survive_the_cursor() -> None:
    from fte.customers.api_routes import decode_cursor, encode_cursor

    customer = uuid.uuid4()
    cursor = encode_cursor("-value", Decimal("12.30"), customer)
    assert decode_cursor(cursor, "-value") == ("12.30", customer)


async def test_after_a_merge_the_merged_customers_key_finds_the_one_kept(
    served: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    keep = await factories.ticket(pool, email="kept@example.com")
    other = await factories.ticket(pool, email="merged@example.com")
    headers = {"X-API-Key": await new_key(pool, ["admin"])}
    url = "/api/customers/merged@example.com"
    assert (await served.get(url, headers=headers)).json()["id"] == str(other.customer_id)
    merged = await served.post(
        f"/api/admin/customers/{keep.customer_id}/merge",
        json={"other_id": str(other.customer_id)},
        headers=headers,
    )
    assert merged.status_code == 200, merged.text
    assert (await served.get(url, headers=headers)).json()["id"] == str(keep.customer_id)
