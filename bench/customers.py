"""Customer intelligence at scale: importing orders beside a bare COPY of the same rows, then
refitting and rescoring every customer, in one run.

    .venv/bin/python bench/customers.py [--customers 100000]

Generates N customers and 5 × N orders as a CSV file, then prints one JSON object:
  import         `fte customers import`'s code (importer.import_file, one transaction) on the
                 file: rows_per_s; copy_rows_per_s, a bare COPY of the same file into a scratch
                 table with the orders' column types and no index or key (the floor of what
                 PostgreSQL can store); ratio = rows_per_s / copy_rows_per_s (bar: ≥ 0.5);
                 copy_indexed_rows_per_s and ratio_indexed: the same against a COPY into a
                 scratch table with the orders' two indexes;
                 reimport_rows_per_s and reimport_ratio, the same file again (every row
                 unchanged: the incremental path)
  refit_seconds  fte.customers.scoring.rescore(): refit BG/NBD and Gamma-Gamma and rescore
                 every customer (bar: ≤ 120 s at 1,000,000 customers)
  lookup, search `GET /api/customers/{key}` by id, email or external id, each key twice (p95_ms:
                 the cache cold for it, p95_ms_warm) and `GET /api/customers` with filters and
                 sorts (p95_ms), through a real `fte serve` (bench/customer_reads.py);
                 baseline_redirect is `GET /` in the same run (the floor of any answer)
With --import-only, only `import` is measured and printed.
Everything runs on a throw-away embedded PostgreSQL; nothing touches ./.fte.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.customer_reads import measure_reads, start_api  # noqa: E402

from fte.auth import service  # noqa: E402
from fte.customers import importer  # noqa: E402
from fte.customers.scoring import rescore  # noqa: E402
from fte.customers.segments import SEGMENTS  # noqa: E402
from fte.db import create_pool, transaction  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402

ORDERS_PER_CUSTOMER = 5
HEADER = ["email", "external_id", "order_id", "amount", "currency", "ordered_at", "plan",
          "status", "name"]  # fmt: skip
PLANS = ["free", "basic", "pro", "business"]


def generate(path: Path, customers: int, seed: int = 7) -> int:
    """N customers (half known by the company's id too) and 5 × N orders over three years."""
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=UTC)
    rows = 0
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for order in range(customers * ORDERS_PER_CUSTOMER):
            c = rng.randrange(customers)
            when = start + timedelta(seconds=rng.randrange(3 * 365 * 86400))
            out.writerow(
                [
                    f"c{c}@example.com",
                    f"CRM-{c}" if c % 2 else "",
                    f"O-{order}",
                    f"{rng.lognormvariate(3.5, 0.8):.2f}",
                    "EUR",
                    when.isoformat(),
                    PLANS[c % 4],
                    "paid",
                    f"Customer {c}",
                ]
            )
            rows += 1
    return rows


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def bare_copy(pool: asyncpg.Pool, path: Path, indexed: bool = False) -> float:
    """COPY the file into a scratch table of the orders' column types: the baseline. With
    `indexed`, the table has the orders' two indexes too (a key on the order id, and the
    customer with the order time): what storing the rows costs PostgreSQL at the least."""
    async with pool.acquire() as conn:
        await conn.execute(
            "CREATE TABLE copy_baseline (email text, external_id text, "
            f"order_id text {'PRIMARY KEY' if indexed else ''}, "
            "amount numeric(14, 2), currency text, ordered_at timestamptz, plan text, "
            "status text, name text)"
        )
        if indexed:
            await conn.execute("CREATE INDEX ON copy_baseline (email, ordered_at)")
        await conn.execute("CHECKPOINT")

        async def copy() -> None:
            async with conn.transaction():
                await conn.copy_to_table(
                    "copy_baseline", source=str(path), format="csv", header=True, timeout=3600
                )

        seconds, _ = await timed(copy)
        await conn.execute("DROP TABLE copy_baseline")
    return seconds


async def product_import(pool: asyncpg.Pool, path: Path) -> tuple[float, dict[str, int]]:
    """The product's importer on the same file, in one transaction (commit included)."""
    async with pool.acquire() as conn:
        await conn.execute("CHECKPOINT")

    async def run() -> dict[str, int]:
        async with transaction(pool) as conn:
            summary = await importer.import_file(conn, path, "csv")
        return summary.as_json()

    return await timed(run)


async def refit(pool: asyncpg.Pool) -> float:
    """Seconds to refit the model and rescore every customer."""
    seconds, _ = await timed(lambda: rescore(pool))
    return round(seconds, 2)


async def read_samples(
    pool: asyncpg.Pool, customers: int, lookups: int, searches: int, seed: int = 11
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """An admin key, customers to look up (by id, email or external id in turn) and the
    filtered searches a console or a CRM sends, on the generated customers."""
    rng = random.Random(seed)
    async with pool.acquire() as conn:
        key = await service.create_api_key(conn, "bench", "admin", ["admin"])
        ids = await conn.fetch(
            "SELECT id, email, external_id FROM customers ORDER BY random() LIMIT $1", lookups
        )
    keys = [
        (str(r["id"]), r["email"], r["external_id"] or r["email"])[i % 3] for i, r in enumerate(ids)
    ]
    shapes: list[dict[str, Any]] = []
    for i in range(searches):
        n = rng.randrange(customers)
        shapes.append(
            [
                {"q": f"Customer {n // 10}", "sort": "-value"},
                {"q": f"c{n // 100}", "sort": "value"},
                {"q": f"CRM-{n | 1}"},
                {"ltv_min": rng.choice([100, 500, 2000]), "sort": "-value"},
                {"churn_risk_min": rng.choice([0.5, 0.8, 0.95]), "sort": "-risk"},
                {"segment": rng.choice(SEGMENTS), "sort": "-value"},
                {"segment": rng.choice(SEGMENTS), "ltv_min": 200, "churn_risk_min": 0.7},
            ][i % 7]
            | {"limit": 50}
        )
    return key.key, keys, shapes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fte-bench-customers-") as tmp:
        data = Path(tmp) / "orders.csv"
        rows = generate(data, args.customers)
        server = EmbeddedPostgres(Path(tmp) / "pg")
        url = server.start()
        api = None
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            # Started first: its imports overlap the import below.
            if not args.import_only:
                api, base = await asyncio.to_thread(start_api, url, {"FTE_API_KEY_RATE_LIMIT": "0"})
            pool = await create_pool(url, min_size=1, max_size=4)
            try:
                copy_seconds = await bare_copy(pool, data)
                indexed_seconds = await bare_copy(pool, data, indexed=True)
                import_seconds, summary = await product_import(pool, data)
                reimport_seconds, again = await product_import(pool, data)
                assert summary["new"] == rows and again["unchanged"] == rows, (summary, again)
                result: dict[str, Any] = {
                    "customers": args.customers,
                    "orders": rows,
                    "import": {
                        "seconds": round(import_seconds, 2),
                        "rows_per_s": round(rows / import_seconds),
                        "copy_seconds": round(copy_seconds, 2),
                        "copy_rows_per_s": round(rows / copy_seconds),
                        "ratio": round(copy_seconds / import_seconds, 3),
                        "copy_indexed_rows_per_s": round(rows / indexed_seconds),
                        "ratio_indexed": round(indexed_seconds / import_seconds, 3),
                        "reimport_rows_per_s": round(rows / reimport_seconds),
                        "reimport_ratio": round(copy_seconds / reimport_seconds, 3),
                        "customers_created": summary["customers_created"],
                    },
                }
                if not args.import_only:
                    result["refit_seconds"] = await refit(pool)
                    key, keys, searches = await read_samples(
                        pool, args.customers, args.lookups, args.searches
                    )
                    result |= await measure_reads(base, key, keys, searches)
            finally:
                await pool.close()
        finally:
            if api is not None:
                api.stop()
            server.stop()
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--customers", type=int, default=100_000, help="customers; orders are 5×")
    p.add_argument("--lookups", type=int, default=500, help="customers looked up, twice each")
    p.add_argument("--searches", type=int, default=140, help="filtered searches")
    p.add_argument(
        "--import-only", action="store_true", help="only `import` (no refit, lookups, searches)"
    )
    return p


def main() -> None:
    result = asyncio.run(run(parser().parse_args()))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
