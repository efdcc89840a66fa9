"""`fte customers refit`: an operator rescoring every profile from the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal

import asyncpg


async def fte(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fte", *args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_refit_rescores_every_customer_and_says_how(pool: asyncpg.Pool, db_url: str) -> None:
    async with pool.acquire() as conn:
        for name, days in (("ana", [400, 300, 200, 100, 3]), ("bo", [50])):
            customer_id = await conn.fetchval(
                "INSERT INTO customers (name) VALUES ($1) RETURNING id", name
            )
            for ago in days:
                await conn.execute(
                    "INSERT INTO orders (order_id, customer_id, amount, currency, ordered_at,"
                    " source) VALUES ($1, $2, $3, 'EUR', now() - make_interval(days => $4),"
                    " 'import')",
                    f"{name}-{ago}",
                    customer_id,
                    Decimal("25.00"),
                    ago,
                )

    done = await fte(db_url, "customers", "refit", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["customers"] == 2 and result["seconds"] > 0
    assert result["note"].startswith("simple estimates: 1 repeat buyers")
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT c.name, p.orders, p.segment, p.model_id FROM customer_profiles p"
            " JOIN customers c ON c.id = p.customer_id ORDER BY c.name"
        )
    assert [(r["name"], r["orders"], r["segment"]) for r in rows] == [
        ("ana", 5, "loyal"),
        ("bo", 1, "new"),
    ]
    assert {r["model_id"] for r in rows} == {result["model_id"]}

    plain = await fte(db_url, "customers", "refit")
    assert plain.returncode == 0 and "Rescored 2 customers" in plain.stderr
    assert "simple estimates" in plain.stderr
    merge = await fte(db_url, "customer", "--help")
    assert "merge" in merge.stdout  # the singular group is still there
