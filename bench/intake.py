"""Web-form intake throughput and latency, beside the bare-asyncpg ceiling, in one run.

    .venv/bin/python bench/intake.py [--seconds 20] [--concurrency 32] [--api-workers 1]

Prints one JSON object:
  intake           HTTP POST /support/submit through `fte serve` (uvicorn, real sockets)
  ceiling          the same intake transaction called directly on an asyncpg pool (no HTTP)
  ratio            intake rps / ceiling rps
  submit_to_reply  inbound message committed → reply committed, with one worker running
Everything runs on a throw-away embedded PostgreSQL; nothing touches ./.fte.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.processes import start_api, start_worker  # noqa: E402

from fte.db import create_pool  # noqa: E402
from fte.intake.service import file_inbound  # noqa: E402
from fte.messaging import Identity, InboundMessage  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402

QUESTIONS = [
    "I forgot my password, how do I reset it?",
    "My files are not syncing on my Windows laptop since yesterday.",
    "How can I share a folder with someone outside my company?",
    "Where do I download last month's invoice?",
    "How do I turn on two-factor authentication?",
    "What happens when I run out of storage on the Free plan?",
    "Can I restore a file I deleted last week?",
    "How do I add three more seats to our Business team?",
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    return {
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "errors": errors,
    }


async def run_load(call, concurrency: int, seconds: float) -> tuple[list[float], int, float]:  # type: ignore[no-untyped-def]
    """`concurrency` clients calling `call(i)` back to back for `seconds`."""
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            i = next(counter)
            started = time.perf_counter()
            try:
                await call(i)
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(concurrency)])
    return latencies, errors, time.perf_counter() - started


def form(i: int) -> dict[str, str]:
    return {
        "name": f"Customer {i}",
        "email": f"customer{i % 5000}@example.com",
        "subject": "Help",
        "message": QUESTIONS[i % len(QUESTIONS)],
    }


def form_message(f: dict[str, str]) -> InboundMessage:
    """A web-form submission as intake files it (the API's parsing left out)."""
    return InboundMessage(
        channel="web_form",
        identity=Identity("email", f["email"]),
        customer_name=f["name"],
        subject=f["subject"],
        body=f["message"],
    )


async def bench_http(base: str, concurrency: int, seconds: float) -> dict[str, float]:
    # aiohttp, not httpx: the load generator shares these 2 cores with the server, and
    # httpx's per-request cost alone caps a client near 200 requests/s.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base, connector=connector) as session:

        async def call(i: int) -> None:
            async with session.post("/support/submit", json=form(i)) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(response.status)

        await run_load(call, concurrency, 2)  # warm-up: connections, caches
        latencies, errors, elapsed = await run_load(call, concurrency, seconds)
    return summary(latencies, errors, elapsed)


async def bench_ceiling(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    pool = await create_pool(url, min_size=concurrency, max_size=concurrency)
    try:

        async def call(i: int) -> None:
            await file_inbound(pool, form_message(form(i)))

        await run_load(call, concurrency, 2)
        latencies, errors, elapsed = await run_load(call, concurrency, seconds)
    finally:
        await pool.close()
    result = summary(latencies, errors, elapsed)
    return {"rps": result["rps"], "p99_ms": result["p99_ms"], "p50_ms": result["p50_ms"]}


async def bench_submit_to_reply(url: str, base: str, count: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE customers CASCADE; TRUNCATE outbox CASCADE")
    finally:
        await conn.close()
    worker = start_worker(url)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for i in range(count):  # a steady trickle, as customers write in
                await client.post("/support/submit", json=form(i))
                await asyncio.sleep(0.05)
        conn = await asyncpg.connect(url)
        try:
            deadline = time.monotonic() + 120
            while await conn.fetchval("SELECT count(*) FROM agent_runs") < count:
                if time.monotonic() > deadline:
                    raise RuntimeError("worker did not finish")
                await asyncio.sleep(0.2)
            rows = await conn.fetch(
                """
                SELECT EXTRACT(EPOCH FROM r.created_at - m.created_at) * 1000 AS ms
                FROM agent_runs r JOIN messages m ON m.id = r.message_id
                """
            )
        finally:
            await conn.close()
    finally:
        worker.stop()
    values = [float(r["ms"]) for r in rows]
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "n": len(values),
    }


def seed_kb(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fte", "kb", "import", "--quiet"],
        check=True,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    # One API process per core, as `fte serve --workers` runs it in production.
    parser.add_argument("--api-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--replies", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fte-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        url = server.start()
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            await asyncio.to_thread(seed_kb, url)
            api, base = start_api(
                url,
                {"FTE_DB_POOL_MAX": str(args.concurrency), "FTE_LOG_LEVEL": "WARNING"},
                workers=args.api_workers,
            )
            try:
                intake = await bench_http(base, args.concurrency, args.seconds)
                ceiling = await bench_ceiling(url, args.concurrency, args.seconds)
                reply = await bench_submit_to_reply(url, base, args.replies)
            finally:
                api.stop()
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "intake": intake,
                "ceiling": ceiling,
                "ratio": round(intake["rps"] / ceiling["rps"], 3) if ceiling["rps"] else None,
                "submit_to_reply": reply,
                "config": {
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "api_workers": args.api_workers,
                    "cpus": os.cpu_count(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
