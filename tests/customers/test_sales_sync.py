"""The sales sync against a second real PostgreSQL database standing in for the company's sales
system (its own `sales_orders` table): incremental, one run at a time, a timeout that keeps
nothing, and what an operator sees (the API, the CLI, `/health`, the doctor, metrics, logs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from fte.auth import service as auth
from fte.config import Settings
from fte.customers.sales_sync import SyncAlreadyRunning, sync_now
from fte.ops.checks import CHECKS, Context, Status
from fte.ops.embedded_postgres import EmbeddedPostgres
from tests.cli.test_dlq import fte
from tests.conftest import _drop_database, make_settings, serve_app
from tests.fixtures.waiting import eventually

QUERY = """
SELECT customer_email AS email, crm_id AS external_id, id AS order_id, total AS amount,
       currency, placed_at AS ordered_at, plan, state AS status, updated_at AS changed_at
  FROM sales_orders
 WHERE updated_at > COALESCE($1, '-infinity'::timestamptz)
 ORDER BY updated_at
"""


@pytest.fixture
async def sales_url(postgres: EmbeddedPostgres) -> AsyncIterator[str]:
    """A second database on the embedded server: the company's sales system."""
    name = f"sales_{id(object())}"
    admin = await asyncpg.connect(postgres.url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(postgres.url(name))
    try:
        await conn.execute(
            """
            CREATE TABLE sales_orders (
                id text PRIMARY KEY, customer_email text, crm_id text, total numeric(12, 2),
                currency text, placed_at timestamptz, plan text, state text,
                updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
            INSERT INTO sales_orders (id, customer_email, crm_id, total, currency, placed_at,
                                      plan, state)
            VALUES ('S-1', 'Ana@Example.com', NULL, 10.5, 'EUR', '2026-01-05', 'basic', 'paid'),
                   ('S-2', 'ana@example.com', NULL, 20, 'EUR', '2026-02-05', 'pro', 'paid'),
                   ('S-3', NULL, 'CRM-7', 99.99, 'USD', '2026-03-01 09:30+02', NULL, 'paid');
            """
        )
    finally:
        await conn.close()
    yield postgres.url(name)
    await _drop_database(postgres, name)


def sync_settings(sales_url: str, query: str = QUERY, **env: str) -> Settings:
    return make_settings(FTE_SALES_DATABASE_URL=sales_url, FTE_SALES_QUERY=query, **env)


async def sales(sales_url: str, sql: str) -> None:
    conn = await asyncpg.connect(sales_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def orders(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        return {r["order_id"]: r for r in await conn.fetch("SELECT * FROM orders")}


async def test_the_first_sync_loads_and_the_next_reads_only_what_changed(
    pool: asyncpg.Pool, sales_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = sync_settings(sales_url)
    caplog.set_level(logging.INFO, logger="fte.customers.sales_sync")
    rows_before = REGISTRY.get_sample_value("fte_sales_sync_rows_total") or 0
    first = await sync_now(pool, settings, "test")
    assert first.status == "succeeded", first.error
    assert first.rows == 3 and first.summary is not None
    assert first.summary.as_json() == {
        "rows": 3, "new": 3, "updated": 0, "unchanged": 0, "customers_created": 2,
    }  # fmt: skip
    stored = await orders(pool)
    assert stored["S-1"]["customer_id"] == stored["S-2"]["customer_id"]
    assert {o["source"] for o in stored.values()} == {"sync"}
    assert f"sales sync run {first.run_id} succeeded" in caplog.text

    await sales(
        sales_url,
        "UPDATE sales_orders SET total = 12, updated_at = clock_timestamp() WHERE id = 'S-1';"
        "INSERT INTO sales_orders (id, customer_email, total, currency, placed_at, state) "
        "VALUES ('S-4', 'new@example.com', 5, 'EUR', '2026-04-01', 'paid')",
    )
    second = await sync_now(pool, settings, "test")
    assert second.status == "succeeded", second.error
    assert second.rows == 2  # only the changed and the new row were read
    assert second.summary is not None and second.summary.as_json()["updated"] == 1
    assert (await orders(pool))["S-1"]["amount"] == 12
    assert second.cursor is not None and first.cursor is not None
    assert second.cursor > first.cursor

    third = await sync_now(pool, settings, "test")
    assert third.status == "succeeded" and third.rows == 0
    assert REGISTRY.get_sample_value("fte_sales_sync_rows_total") == rows_before + 5
    async with pool.acquire() as conn:
        runs = await conn.fetch("SELECT status, rows, trigger FROM sales_sync_runs ORDER BY id")
    assert [(r["status"], r["rows"]) for r in runs] == [
        ("succeeded", 3),
        ("succeeded", 2),
        ("succeeded", 0),
    ]


async def test_a_query_past_the_timeout_fails_the_run_and_keeps_nothing(
    pool: asyncpg.Pool, sales_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 6,000 rows come first (a full batch is staged), then the query sleeps.
    await sales(
        sales_url,
        "INSERT INTO sales_orders (id, customer_email, total, currency, placed_at, state) "
        "SELECT 'G-' || n, 'g' || n || '@example.com', n, 'EUR', '2026-01-01', 'paid' "
        "FROM generate_series(1, 6000) n",
    )
    slow = (
        "SELECT * FROM (" + QUERY + ") q UNION ALL "
        "SELECT NULL, NULL, 'late', 1, 'EUR', now(), NULL, NULL, now() FROM pg_sleep(30)"
    )
    settings = sync_settings(sales_url, slow, FTE_SALES_SYNC_TIMEOUT_SECONDS="2")
    failed_before = (
        REGISTRY.get_sample_value("fte_sales_sync_runs_total", {"outcome": "failed"}) or 0
    )
    outcome = await sync_now(pool, settings, "test")
    assert outcome.status == "failed"
    assert outcome.error == "timed out after 2 s"
    assert f"sales sync run {outcome.run_id} failed" in caplog.text
    assert (
        REGISTRY.get_sample_value("fte_sales_sync_runs_total", {"outcome": "failed"})
        == failed_before + 1
    )
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM orders") == 0
        assert await conn.fetchval("SELECT count(*) FROM customers") == 0
        run = await conn.fetchrow("SELECT * FROM sales_sync_runs")
    assert run["status"] == "failed" and run["finished_at"] is not None
    # The doctor says so, with the fix.
    check = next(c for c in CHECKS if c.name == "customer_data")
    result = await check.run(Context(settings=settings, pool=pool, adapters={}))
    assert result.status == Status.WARN and "timed out" in result.summary
    assert "fte customers sync" in result.fix
    # The lock was let go: the next run can start (and loads everything).
    again = await sync_now(pool, sync_settings(sales_url), "test")
    assert again.status == "succeeded" and again.rows == 6003


@pytest.fixture
async def admin(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        key = await auth.create_api_key(conn, "ops", "admin")
    return {"X-API-Key": key.key}


async def test_the_api_starts_one_sync_at_a_time(
    db_url: str, pool: asyncpg.Pool, sales_url: str, admin: dict[str, str]
) -> None:
    slow = "SELECT * FROM (" + QUERY + ") q, pg_sleep(1)"
    async with (
        serve_app(db_url, sync_settings(sales_url, slow)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        health = (await c.get("/health")).json()
        assert health["customers"] == {"last_sync_at": None, "customers_loaded": 0, "orders": 0}
        assert (await c.post("/api/admin/sync")).status_code in (401, 403)
        answers = await asyncio.gather(*(c.post("/api/admin/sync", headers=admin) for _ in "ab"))
        assert sorted(r.status_code for r in answers) == [202, 409]
        started = next(r for r in answers if r.status_code == 202).json()
        assert started["status"] == "sync_started"
        refused = next(r for r in answers if r.status_code == 409).json()
        assert refused["error"] == "a sales sync is running already"

        async def done() -> str | None:
            async with pool.acquire() as conn:
                return await conn.fetchval(
                    "SELECT status FROM sales_sync_runs WHERE id = $1 AND status <> 'running'",
                    started["run_id"],
                )

        assert await eventually(done, what="the sync run to end") == "succeeded"
        health = (await c.get("/health")).json()
        assert health["customers"]["orders"] == 3
        assert health["customers"]["last_sync_at"] is not None
    with pytest.raises(SyncAlreadyRunning):
        async with pool.acquire() as holder:
            await holder.execute("SELECT pg_advisory_lock(0x46544553594E43)")
            await sync_now(pool, sync_settings(sales_url), "test")


async def test_without_a_sales_database_the_sync_is_refused_clearly(
    db_url: str, admin: dict[str, str]
) -> None:
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        r = await c.post("/api/admin/sync", headers=admin)
    assert r.status_code == 400
    assert r.json()["error"] == "no sales database configured"
    assert "FTE_SALES_DATABASE_URL" in r.json()["detail"]


async def test_fte_customers_sync(
    db_url: str, sales_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTE_SALES_DATABASE_URL", sales_url)
    monkeypatch.setenv("FTE_SALES_QUERY", QUERY)
    result = await fte(db_url, "customers", "sync")
    assert result.returncode == 0, result.stderr
    assert "succeeded: 3 row(s) read; 3 new" in result.stderr


async def test_the_query_runs_read_only_on_the_sales_database(
    pool: asyncpg.Pool, sales_url: str
) -> None:
    writes = "WITH gone AS (DELETE FROM sales_orders RETURNING *) " + QUERY.replace(
        "FROM sales_orders", "FROM gone"
    )
    outcome = await sync_now(pool, sync_settings(sales_url, writes), "test")
    assert outcome.status == "failed"
    assert outcome.error is not None and "read-only" in outcome.error
    conn = await asyncpg.connect(sales_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sales_orders") == 3
    finally:
        await conn.close()


async def test_a_query_changed_under_its_cursor_fails_the_run_cleanly(
    pool: asyncpg.Pool, sales_url: str
) -> None:
    assert (await sync_now(pool, sync_settings(sales_url), "test")).status == "succeeded"
    # The cursor is a timestamp; the new query wants a number for $1.
    numbered = QUERY.replace(
        "updated_at > COALESCE($1, '-infinity'::timestamptz)",
        "extract(epoch FROM updated_at)::bigint > COALESCE($1, 0)",
    )
    outcome = await sync_now(pool, sync_settings(sales_url, numbered), "test")
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error.startswith("ValueError")
    async with pool.acquire() as conn:
        statuses = await conn.fetch("SELECT status FROM sales_sync_runs ORDER BY id")
    assert [r["status"] for r in statuses] == ["succeeded", "failed"]
    # The lock was let go.
    assert (await sync_now(pool, sync_settings(sales_url), "test")).status == "succeeded"
