"""Customer API reads at scale: profile lookups (cache cold, then warm) and filtered searches.

    .venv/bin/python bench/customer_reads.py [--customers 1000000] [--lookups 1000]
        [--searches 200] [--redis-url redis://127.0.0.1:6379/0]

Fills a throw-away embedded PostgreSQL (nothing touches ./.fte) with COPY: N customers, their
email identities and scored profiles. Starts the real `fte serve`, makes a key with the `admin`
scope (it reads the cache stats too) and times sequential requests through HTTP, beside a
same-run baseline: `GET /` (a redirect: no query, no key), the floor of any answer. Prints one
JSON object; `bench/customers.py` calls `measure_reads` with its own data.

Targets (issue 20): lookup p95 <= 10 ms, cold and warm; filtered search p95 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.processes import Process, free_port  # noqa: E402
from tests.fixtures.waiting import eventually_blocking  # noqa: E402

from fte.auth import service  # noqa: E402
from fte.db import create_pool  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402

SEGMENTS = ("champion", "loyal", "at_risk", "lost", "new", "one_time")
PLANS = ("free", "starter", "pro", "enterprise")


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of latencies in ms."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1], 2),
    }


async def _timed(
    client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None, expect: int = 200
) -> float:
    started = time.perf_counter()
    answer = await client.get(path, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != expect:
        raise RuntimeError(f"{path} {params}: {answer.status_code} {answer.text[:200]}")
    return elapsed


async def measure_reads(
    base_url: str,
    api_key: str,
    keys: Sequence[str],
    searches: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Time `GET /api/customers/{key}` for each key twice (first pass: the cache is cold for
    that key; second: warm) and `GET /api/customers` for each search, sequentially, through
    HTTP. `lookup` has `p95_ms` (cold) and `p95_ms_warm`; `search` has `p95_ms`."""
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        await _timed(client, "/api/customers", {"limit": 1})  # connection, plans
        # The floor of any answer on this machine now: a redirect, no query, no key.
        floor = [await _timed(client, "/", expect=307) for _ in range(len(keys) // 4 or 1)]
        cold = [await _timed(client, f"/api/customers/{key}") for key in keys]
        warm = [await _timed(client, f"/api/customers/{key}") for key in keys]
        searched = [await _timed(client, "/api/customers", params) for params in searches]
        stats = (await client.get("/api/admin/cache/stats")).json()
    cold_p, warm_p = percentiles(cold), percentiles(warm)
    return {
        "lookup": {
            "n": len(keys),
            **cold_p,
            **{f"{k}_warm": v for k, v in warm_p.items()},
        },
        "search": {"n": len(searches), **percentiles(searched)},
        "baseline_redirect": {"n": len(floor), **percentiles(floor)},
        "cache": {k: stats.get(k) for k in ("backend", "status", "hits", "misses", "hit_rate")},
    }


def _customer_rows(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for n in range(1, count + 1):
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            f"Person {n}",
            f"p{n}@example.com",
            f"EXT-{n}",
            PLANS[n % len(PLANS)],
            start + timedelta(minutes=n % 500_000),
        )


def _profile_row(customer_id: uuid.UUID, n: int, rng: random.Random) -> tuple[Any, ...]:
    orders = 1 + int(rng.expovariate(1 / 4))
    aov = Decimal(round(rng.lognormvariate(4, 0.8), 2))
    last = datetime(2026, 12, 1, tzinfo=UTC) - timedelta(days=rng.randint(0, 900))
    risk = round(rng.random(), 4)
    return (
        customer_id,
        orders,
        aov * orders,
        aov,
        "EUR",
        last - timedelta(days=rng.randint(0, 1500)),
        last,
        1 - risk,
        round(rng.random() * 3, 3),
        aov,
        risk,
        "[]",
        SEGMENTS[n % len(SEGMENTS)],
        rng.random(),
    )


async def fill(url: str, count: int, seed: int = 20) -> dict[str, Any]:
    """N customers, their email identities and profiles, with COPY; ANALYZE at the end."""
    conn = await asyncpg.connect(url)
    started = time.perf_counter()
    try:
        customers = list(_customer_rows(count, seed))
        await conn.copy_records_to_table(
            "customers",
            records=customers,
            columns=["id", "name", "email", "external_id", "plan", "created_at"],
        )
        await conn.copy_records_to_table(
            "customer_identities",
            records=((c[0], "email", c[2]) for c in customers),
            columns=["customer_id", "kind", "value"],
        )
        rng = random.Random(seed + 1)
        await conn.copy_records_to_table(
            "customer_profiles",
            records=(_profile_row(c[0], n, rng) for n, c in enumerate(customers, 1)),
            columns=[
                "customer_id",
                "orders",
                "lifetime_value",
                "avg_order_value",
                "currency",
                "first_order_at",
                "last_order_at",
                "p_alive",
                "expected_purchases_90d",
                "expected_value_90d",
                "churn_risk",
                "churn_factors",
                "segment",
                "value_percentile",
            ],
        )
        await conn.execute("ANALYZE customers, customer_identities, customer_profiles")
    finally:
        await conn.close()
    return {"customers": count, "fill_seconds": round(time.perf_counter() - started, 1)}


def sample_keys(count: int, lookups: int, ids: Sequence[str], seed: int = 7) -> list[str]:
    """Distinct customers, named by id, email or external id in turn."""
    rng = random.Random(seed)
    chosen = rng.sample(range(1, count + 1), min(lookups, count))
    keys = []
    for i, n in enumerate(chosen):
        keys.append((ids[n - 1], f"p{n}@example.com", f"EXT-{n}")[i % 3])
    return keys


def sample_searches(count: int, searches: int, seed: int = 9) -> list[dict[str, Any]]:
    """Filtered searches a console or a CRM would send, with their sorts."""
    rng = random.Random(seed)
    kinds: list[dict[str, Any]] = []
    for i in range(searches):
        n = rng.randint(1, count)
        shapes: list[dict[str, Any]] = [
            {"q": f"person {n // 10}", "sort": "-value"},
            {"q": f"p{n // 100}", "sort": "value"},
            {"q": f"EXT-{n}"},
            {"ltv_min": rng.choice([100, 500, 2000]), "sort": "-value"},
            {"churn_risk_min": rng.choice([0.5, 0.8, 0.95]), "sort": "-risk"},
            {"segment": rng.choice(SEGMENTS), "sort": "-value"},
            {"segment": rng.choice(SEGMENTS), "ltv_min": 200, "churn_risk_min": 0.7},
        ]
        kinds.append({**shapes[i % len(shapes)], "limit": 50})
    return kinds


async def _key_and_ids(url: str, count: int) -> tuple[str, list[str]]:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            # The admin scope holds customers:read and also reads the cache's stats.
            admin = await service.create_api_key(conn, "bench", "admin", ["admin"])
            rows = await conn.fetch(
                "SELECT id, substr(external_id, 5)::int AS n FROM customers "
                "WHERE external_id LIKE 'EXT-%'"
            )
    finally:
        await pool.close()
    ids = [""] * count
    for r in rows:
        ids[r["n"] - 1] = str(r["id"])
    return admin.key, ids


def start_api(url: str, env: dict[str, str]) -> tuple[Process, str]:
    """`fte serve` on the bench database; a loaded machine may take minutes to import it."""
    port = free_port()
    proc = Process(
        ["serve"],
        {"DATABASE_URL": url, "FTE_PORT": str(port), "FTE_SECRET_KEY": "bench", **env},
    )
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"the API exited:\n{proc.output()}")
        try:
            return httpx.get(base + "/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    eventually_blocking(answering, 600, "the API answering", every=0.5)
    return proc, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=210)
    parser.add_argument("--redis-url", default=None, help="REDIS_URL for the API (else memory)")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="fte-bench-customers-"))
    server = EmbeddedPostgres(data)
    server.start()
    try:
        admin_url = server.url("postgres")

        async def create() -> None:
            conn = await asyncpg.connect(admin_url)
            await conn.execute('CREATE DATABASE "bench"')
            await conn.close()

        asyncio.run(create())
        url = server.url("bench")
        migrations.upgrade(url)
        env = {"FTE_API_KEY_RATE_LIMIT": "0"}
        if args.redis_url:
            env["REDIS_URL"] = args.redis_url
        # Started before the fill: its imports and the fill overlap.
        api, base = start_api(url, env)
        try:
            filled = asyncio.run(fill(url, args.customers))
            key, ids = asyncio.run(_key_and_ids(url, args.customers))
            report = asyncio.run(
                measure_reads(
                    base,
                    key,
                    sample_keys(args.customers, args.lookups, ids),
                    sample_searches(args.customers, args.searches),
                )
            )
        finally:
            api.stop()
        sys.stdout.write(json.dumps({"data": filled, **report}, indent=2) + "\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
