"""The bus end to end: web form → bus → worker → reply committed, PostgreSQL queue vs Kafka.

    .venv/bin/python bench/bus.py [--messages 300] [--concurrency 16] [--warmup 200]
                                  [--texts support|oneline]

The customers write what bench/messages.py writes (--texts support: one line to a short
paragraph, 13-77 tokens, 34 on average) or the intake benchmark's eight one-line questions
(--texts oneline: 13-16 tokens, the cheapest to embed).

Prints one JSON object:
  ceiling   the embedding model's own batched throughput on the same texts (subject and
            message, as the worker embeds them) at the worker's batch size, in this process,
            the best of torch on every core and on one, measured before each mode (the median
            is reported, the samples beside it): no worker can answer faster than it embeds
  postgres  FTE_BUS=postgres, one `fte worker`
  kafka_1   FTE_BUS=kafka on the embedded Tansu broker, one `fte worker`
  kafka_2   the same with two `fte worker` processes in one consumer group
The workers' embedding processes share the cores as `fte up` shares them (one per core: two
for one worker on two cores, one each for two).
Each mode first answers --warmup messages, not measured (a worker's connections and prepared
statements are set up, as in one that has been running), then is measured twice, on the local
agent:
  mps       --messages submitted as fast as intake takes them, the workers answering meanwhile:
            messages answered per second, first submit → last agent run committed (the
            throughput; `saturated_p95_ms` is that backlog's latency)
  p50_ms, p95_ms  then --messages submitted open loop at --rate per second (default: half this
            mode's ceiling sample, the target load): end-to-end latency, message committed →
            agent run committed (`paced_mps`: answered per second; it cannot exceed the rate
            offered, so it is not the throughput)
  ratio     mps over the ceiling
Everything runs on a throw-away embedded PostgreSQL and broker; nothing touches ./.fte.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.fixtures.processes import Process, start_api, start_worker  # noqa: E402

from fte.bus import kafka  # noqa: E402
from fte.config import Settings  # noqa: E402
from fte.embeddings import default_processes, get_embedder  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402
from fte.ops.embedded_tansu import EmbeddedTansu  # noqa: E402
from intake import form, percentile, seed_kb  # noqa: E402
from messages import submission  # noqa: E402

BATCH = 16  # FTE_WORKER_BATCH_SIZE's default
# --texts: what customers write (one line to a paragraph, bench/messages.py), or the intake
# benchmark's one-line questions (about 15 tokens: the cheapest texts to embed).
Submission = Callable[[int], dict[str, str]]
TEXTS: dict[str, Submission] = {"support": submission, "oneline": form}
_prefixes = itertools.count()


def _embed_rate(make: Submission, count: int) -> float:
    embedder = get_embedder("cpu")
    # What the worker embeds for each submission: its subject, then its message
    # (MessageContext.query).
    texts = [f"{f['subject']}\n{f['message']}" for f in map(make, range(count))]
    embedder.embed(texts[:BATCH])  # warm up
    started = time.perf_counter()
    for i in range(0, count, BATCH):
        embedder.embed(texts[i : i + BATCH])
    return count / (time.perf_counter() - started)


def ceiling(make: Submission, count: int) -> float:
    """The model's best batched throughput here: torch on every core, or on one (which wins
    when other processes hold the cores)."""
    import torch

    cores = torch.get_num_threads()
    rates = []
    for threads in sorted({cores, 1}, reverse=True):
        torch.set_num_threads(threads)
        rates.append(_embed_rate(make, count))
    torch.set_num_threads(cores)
    return max(rates)


async def _reset(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE customers CASCADE; TRUNCATE outbox CASCADE")
    finally:
        await conn.close()


async def _submit(http: aiohttp.ClientSession, make: Submission, i: int) -> None:
    async with http.post("/support/submit", json=make(i)) as response:
        await response.read()
        response.raise_for_status()


async def _burst(
    http: aiohttp.ClientSession, make: Submission, first: int, count: int, concurrency: int
) -> None:
    """Submit `count` messages as fast as intake takes them: the workers' backlog."""
    counter = itertools.count(first)

    async def client() -> None:
        while (i := next(counter)) < first + count:
            await _submit(http, make, i)

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def _paced(
    http: aiohttp.ClientSession, make: Submission, first: int, count: int, rate: float
) -> None:
    """Submit `count` messages open loop at `rate` per second (a steady stream of customers)."""
    started = time.perf_counter()
    tasks = []
    for i in range(count):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(_submit(http, make, first + i)))
    await asyncio.gather(*tasks)


async def _answered(url: str, since: float, expected: int) -> dict[str, float]:
    """Wait for every message submitted after `since` to have its agent run; the figures. The
    wait polls a count (cheap: the poll shares the cores with the system measured); the join
    runs once, at the end."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + 600
        count = "SELECT count(*) FROM agent_runs WHERE created_at >= to_timestamp($1)"
        while await conn.fetchval(count, since) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not finish")
            await asyncio.sleep(0.1)
        rows = await conn.fetch(
            """
            SELECT EXTRACT(EPOCH FROM r.created_at - m.created_at) * 1000 AS ms,
                   EXTRACT(EPOCH FROM m.created_at) AS sent,
                   EXTRACT(EPOCH FROM r.created_at) AS done
            FROM agent_runs r JOIN messages m ON m.id = r.message_id
            WHERE m.created_at >= to_timestamp($1)
            """,
            since,
        )
    finally:
        await conn.close()
    latencies = [float(r["ms"]) for r in rows]
    span = max(float(r["done"]) for r in rows) - min(float(r["sent"]) for r in rows)
    return {
        "mps": round(len(rows) / span, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "n": len(rows),
    }


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children (PostgreSQL's backends); of
    this process alone (its children are the system under test)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
            for proc in family:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def run_mode(
    url: str,
    base: str,
    env: dict[str, str],
    make: Submission,
    workers: int,
    count: int,
    concurrency: int,
    rate: float,
    pids: dict[str, list[int]],
    warmup: int,
) -> dict[str, object]:
    """After a backlog of `warmup` messages, not measured: saturated (a backlog of `count`
    messages: the most the workers answer per second), then paced (`count` messages at `rate`
    per second: the latency a steady stream sees)."""
    await _reset(url)
    procs: list[Process] = []
    # The workers share the cores as `fte up` shares them: one embedding process per core.
    env = {**env, "FTE_EMBEDDING_PROCESSES": str(default_processes(workers))}
    try:
        for _ in range(workers):
            procs.append(start_worker(url, env))
        if workers > 1:
            await asyncio.sleep(8)  # the group settles: both workers hold partitions
        # The load generator shares the cores too: aiohttp, whose per-request cost is a
        # fraction of httpx's, and its own CPU is reported beside the system's.
        roles = {**pids, "workers": [p.pid for p in procs], "load_generator": [os.getpid()]}
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(base, timeout=timeout) as http:
            if warmup:
                # Not measured: the workers open their database connections (each one's first
                # batch statement makes asyncpg look up the vector[] type, ~5 ms of planning)
                # and prepare their statements, as a worker that has been running has. Other
                # customers than the measured ones, so nobody writes twice.
                since = time.time()
                await _burst(http, make, 2 * count, warmup, concurrency)
                await _answered(url, since, warmup)
                await asyncio.sleep(1)
            before = {role: _cpu_seconds(ps) for role, ps in roles.items()}
            since = time.time()
            await _burst(http, make, 0, count, concurrency)
            saturated = await _answered(url, since, count)
            cpu = {
                role: round((_cpu_seconds(ps) - before[role]) * 1000 / count, 1)
                for role, ps in roles.items()
            }
            await asyncio.sleep(1)
            since = time.time()
            await _paced(http, make, count, count, rate)
            paced = await _answered(url, since, count)
    finally:
        for proc in procs:
            proc.stop()
    return {
        "mps": saturated["mps"],
        "p50_ms": paced["p50_ms"],
        "p95_ms": paced["p95_ms"],
        "paced_mps": paced["mps"],
        "offered_mps": round(rate, 1),
        "saturated_p95_ms": saturated["p95_ms"],
        "n": saturated["n"],
        # CPU time per message in the saturated run, by process (the budget on these cores).
        "cpu_ms_per_message": cpu,
    }


async def kafka_env(broker: EmbeddedTansu) -> dict[str, str]:
    env = {
        "FTE_BUS": "kafka",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "FTE_KAFKA_TOPIC_PREFIX": f"bench{next(_prefixes)}.",
        "FTE_KAFKA_IDEMPOTENCE": "false",  # Tansu's in-memory engine (docs/kafka.md)
        "FTE_KAFKA_PARTITIONS": "6",
    }
    await kafka.create_topics(Settings(**env))  # type: ignore[arg-type]
    return env


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rate", type=float, help="paced messages per second (default: half the ceiling)"
    )
    parser.add_argument("--modes", default="postgres,kafka_1,kafka_2")
    parser.add_argument(
        "--texts", choices=sorted(TEXTS), default="support", help="what the customers write"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="messages answered before each mode's figures"
    )
    args = parser.parse_args()

    modes = args.modes.split(",")
    make = TEXTS[args.texts]
    result: dict[str, object] = {}
    # Measured before each mode, so a busy moment of a shared machine shows up in the ceiling
    # as well as in the figures; the median is the one reported.
    samples = [await asyncio.to_thread(ceiling, make, args.messages)]
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
                for mode, workers in (("postgres", 1), ("kafka_1", 1), ("kafka_2", 2)):
                    if mode not in modes:
                        continue
                    if len(samples) < len(result) + 1:
                        samples.append(await asyncio.to_thread(ceiling, make, args.messages))
                    env = await kafka_env(broker) if mode != "postgres" else {}
                    assert server.process is not None
                    pids = {"api": [api.pid], "postgres": [server.process.pid]}
                    rate = args.rate or samples[-1] / 2
                    result[mode] = await run_mode(
                        url, base, env, make, workers, n, c, rate, pids, args.warmup
                    )
            finally:
                api.stop()
        finally:
            broker.stop()
            server.stop()
    roof = statistics.median(samples)
    for figures in result.values():
        assert isinstance(figures, dict)
        figures["ratio"] = round(float(figures["mps"]) / roof, 2)
    result = {
        "ceiling": {
            "texts_per_s": round(roof, 1),
            "samples": [round(x, 1) for x in samples],
            "batch": BATCH,
        },
        **result,
    }
    result["config"] = {
        "messages": args.messages,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "texts": args.texts,
        "rate": args.rate or "half the ceiling sample before each mode",
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
