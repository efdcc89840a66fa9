"""The bus end to end: web form → bus → worker → reply committed, PostgreSQL queue vs Kafka.

    .venv/bin/python bench/bus.py [--messages 300] [--concurrency 16]

Prints one JSON object:
  ceiling   the embedding model's own batched throughput on the same texts (the worker's
            batch size), in this process: no worker can answer faster than it embeds
  postgres  FTE_BUS=postgres, one `fte worker`
  kafka_1   FTE_BUS=kafka on the embedded Tansu broker, one `fte worker`
  kafka_2   the same with two `fte worker` processes in one consumer group
each with mps (messages answered per second, first submit → last reply committed) and
p50/p95 end-to-end latency (message committed → agent run committed), local agent.
Everything runs on a throw-away embedded PostgreSQL and broker; nothing touches ./.fte.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.fixtures.processes import Process, start_api, start_worker  # noqa: E402

from fte.agent.embeddings import get_embedder  # noqa: E402
from fte.bus import kafka  # noqa: E402
from fte.config import Settings  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402
from fte.ops.embedded_tansu import EmbeddedTansu  # noqa: E402
from intake import QUESTIONS, form, percentile, seed_kb  # noqa: E402

BATCH = 16  # FTE_WORKER_BATCH_SIZE's default
_prefixes = itertools.count()


def ceiling(count: int) -> dict[str, float]:
    embedder = get_embedder("cpu")
    texts = [QUESTIONS[i % len(QUESTIONS)] for i in range(count)]
    embedder.embed(texts[:BATCH])  # warm up
    started = time.perf_counter()
    for i in range(0, count, BATCH):
        embedder.embed(texts[i : i + BATCH])
    return {"texts_per_s": round(count / (time.perf_counter() - started), 1), "batch": BATCH}


async def run_mode(
    url: str, base: str, env: dict[str, str], workers: int, count: int, concurrency: int
) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE customers CASCADE; TRUNCATE outbox CASCADE")
    finally:
        await conn.close()
    procs: list[Process] = []
    try:
        for _ in range(workers):
            procs.append(start_worker(url, env))
        if workers > 1:
            await asyncio.sleep(8)  # the group settles: both workers hold partitions
        counter = itertools.count()

        async def client(http: httpx.AsyncClient) -> None:
            while (i := next(counter)) < count:
                response = await http.post("/support/submit", json=form(i))
                response.raise_for_status()

        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            await asyncio.gather(*(client(http) for _ in range(concurrency)))
        conn = await asyncpg.connect(url)
        try:
            deadline = time.monotonic() + 600
            while await conn.fetchval("SELECT count(*) FROM agent_runs") < count:
                if time.monotonic() > deadline:
                    raise RuntimeError("workers did not finish")
                await asyncio.sleep(0.2)
            rows = await conn.fetch(
                """
                SELECT EXTRACT(EPOCH FROM r.created_at - m.created_at) * 1000 AS ms,
                       EXTRACT(EPOCH FROM m.created_at) AS sent,
                       EXTRACT(EPOCH FROM r.created_at) AS done
                FROM agent_runs r JOIN messages m ON m.id = r.message_id
                """
            )
        finally:
            await conn.close()
    finally:
        for proc in procs:
            proc.stop()
    latencies = [float(r["ms"]) for r in rows]
    span = max(float(r["done"]) for r in rows) - min(float(r["sent"]) for r in rows)
    return {
        "mps": round(len(rows) / span, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "n": len(rows),
    }


async def kafka_env(broker: EmbeddedTansu) -> dict[str, str]:
    env = {
        "FTE_BUS": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "FTE_KAFKA_TOPIC_PREFIX": f"bench{next(_prefixes)}.",
        "FTE_KAFKA_IDEMPOTENCE": "false",  # Tansu's in-memory engine (README)
        "FTE_KAFKA_PARTITIONS": "6",
    }
    await kafka.create_topics(Settings(**env))  # type: ignore[arg-type]
    return env


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    result: dict[str, object] = {"ceiling": await asyncio.to_thread(ceiling, args.messages)}
    with tempfile.TemporaryDirectory(prefix="fte-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        broker = EmbeddedTansu(log_path=Path(tmp) / "tansu.log")
        url = server.start()
        broker.start()
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            await asyncio.to_thread(seed_kb, url)
            api, base = start_api(url, {"FTE_LOG_LEVEL": "WARNING"})
            try:
                n, c = args.messages, args.concurrency
                result["postgres"] = await run_mode(url, base, {}, 1, n, c)
                result["kafka_1"] = await run_mode(url, base, await kafka_env(broker), 1, n, c)
                result["kafka_2"] = await run_mode(url, base, await kafka_env(broker), 2, n, c)
            finally:
                api.stop()
        finally:
            broker.stop()
            server.stop()
    result["config"] = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
