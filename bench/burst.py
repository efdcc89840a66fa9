"""Intake under a burst: alone, then while a saturating backlog of agent work is answered.

    .venv/bin/python bench/burst.py [--seconds 20] [--rate 300] [--window 10] [--texts support]
                                    [--api-workers 1] [--nice N] [--concurrency C]

One machine, one run, as `fte up` runs it: one `fte serve`, one `fte worker` (its embedding
processes one per core), an embedded PostgreSQL, the load generator on the same cores. Phases:
  intake_idle   web-form submissions for --seconds with no worker running
  (backlog)     messages filed straight into the database, more than the worker answers in
                the phases below; then the worker starts and answers --warmup of them, not
                measured (its connections open, its statements prepared)
  answered_alone  the worker's rate on the backlog, no intake load, for --window seconds
  intake_busy   the same submissions for --seconds while the worker answers the backlog;
                `answered_during_busy_mps` is the worker's rate in that same interval, so a
                worker starved to make intake look fast does not pass
The load is open loop at --rate submissions a second (customers do not wait for each other;
latency counts from when a submission was due, so a slow server is not hidden by a slow
client), or with --concurrency C, C clients back to back (the most intake takes).
Load goes only to 127.0.0.1, and every phase is bounded in count and time.

Prints one JSON object: intake_idle and intake_busy (rps, p50_ms, p99_ms, errors),
answered_alone_mps, answered_during_busy_mps, the three ratios the issue bounds
(busy_p99_over_idle <= 2, busy_rps_over_idle >= 0.7, answered_busy_over_alone >= 0.7), whether
each holds, and the worker's niceness.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.fixtures.processes import Process, start_api  # noqa: E402

from fte.db import create_pool  # noqa: E402
from fte.embeddings import default_processes  # noqa: E402
from fte.intake.service import file_inbound  # noqa: E402
from fte.ops import migrations  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402
from intake import form, form_message, run_load, seed_kb, summary  # noqa: E402
from messages import submission  # noqa: E402

Submission = Callable[[int], dict[str, str]]
TEXTS: dict[str, Submission] = {"support": submission, "oneline": form}
# Customers of each phase are distinct: every submission starts its own conversation, so the
# worker's per-conversation order never holds the backlog back.
BACKLOG_FIRST = 10_000_000
BUSY_FIRST = 20_000_000
MOST_SECONDS = 120.0  # any one phase
MOST_IN_FLIGHT = 512  # open-loop submissions outstanding at once


def _customer(make: Submission, i: int) -> dict[str, str]:
    fields = make(i)
    return {**fields, "email": f"burst{i}@example.com", "name": f"Customer {i}"}


def _summary(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    return {**summary(latencies, errors, seconds), "n": len(latencies)}


async def intake_load(
    base: str, make: Submission, first: int, seconds: float, rate: float, concurrency: int
) -> dict[str, float]:
    """Web-form submissions for `seconds`: open loop at `rate` a second, or `concurrency`
    clients back to back when it is set."""
    seconds = min(seconds, MOST_SECONDS)
    connector = aiohttp.TCPConnector(limit=concurrency or MOST_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as http:

        async def submit(i: int) -> None:
            async with http.post("/support/submit", json=_customer(make, first + i)) as response:
                await response.read()
                if response.status != 201:
                    raise RuntimeError(response.status)

        if concurrency:
            latencies, errors, elapsed = await run_load(submit, concurrency, seconds)
            return _summary(latencies, errors, elapsed)

        latencies: list[float] = []  # type: ignore[no-redef]
        errors = 0
        started = time.perf_counter()

        async def due(i: int, at: float) -> None:
            nonlocal errors
            try:
                await submit(i)
                # From when it was due: a client that fell behind is the server's delay too.
                latencies.append((time.perf_counter() - at) * 1000)
            except Exception:
                errors += 1

        tasks = []
        for i in range(int(seconds * rate)):
            at = started + i / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            tasks.append(asyncio.create_task(due(i, at)))
        await asyncio.gather(*tasks)
        return _summary(latencies, errors, time.perf_counter() - started)


async def file_backlog(url: str, make: Submission, first: int, count: int) -> None:
    """`count` messages filed as intake files them, straight on a pool (no HTTP: quick)."""
    pool = await create_pool(url, min_size=8, max_size=8)
    counter = itertools.count(first)
    try:

        async def filer() -> None:
            while (i := next(counter)) < first + count:
                await file_inbound(pool, form_message(_customer(make, i)))

        await asyncio.gather(*(filer() for _ in range(8)))
    finally:
        await pool.close()


def _pause(pid: int) -> list[psutil.Process]:
    """Stop a process and its children (SIGSTOP): they take no CPU until resumed."""
    family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    for proc in family:
        proc.suspend()
    return family


def _resume(family: list[psutil.Process]) -> None:
    for proc in family:
        proc.resume()


async def _count(conn: asyncpg.Connection, sql: str, *args: Any) -> int:
    return int(await conn.fetchval(sql, *args))


async def answered_between(conn: asyncpg.Connection, since: float, until: float) -> float:
    """Agent runs committed per second in [since, until) (wall clock, the database's)."""
    n = await _count(
        conn,
        "SELECT count(*) FROM agent_runs"
        " WHERE created_at >= to_timestamp($1) AND created_at < to_timestamp($2)",
        since,
        until,
    )
    return round(n / (until - since), 1)


async def pending(conn: asyncpg.Connection) -> int:
    """Inbound messages not answered yet."""
    return await _count(
        conn,
        "SELECT (SELECT count(*) FROM messages WHERE direction = 'inbound')"
        " - (SELECT count(*) FROM agent_runs)",
    )


async def wait_answered(conn: asyncpg.Connection, count: int, most_seconds: float) -> None:
    deadline = time.monotonic() + most_seconds
    while await _count(conn, "SELECT count(*) FROM agent_runs") < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not answer {count} messages in {most_seconds:.0f}s")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase on a throw-away embedded PostgreSQL; the figures."""
    make = TEXTS[args.texts]
    load = {"rate": args.rate, "concurrency": args.concurrency}
    worker_env = {
        "FTE_SECRET_KEY": "bench-secret",
        "FTE_EMBEDDING_PROCESSES": str(default_processes(1)),  # as `fte up` starts one worker
        **({"FTE_WORKER_NICE": str(args.nice)} if args.nice is not None else {}),
    }
    with tempfile.TemporaryDirectory(prefix="fte-bench-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        url = server.start()
        try:
            await asyncio.to_thread(migrations.upgrade, url)
            await asyncio.to_thread(seed_kb, url)
            api, base = start_api(url, {"FTE_LOG_LEVEL": "WARNING"}, workers=args.api_workers)
            conn = await asyncpg.connect(url)
            # Started first (its model loaded), then paused for the idle phase, as the issue
            # measured "with the worker paused": it has nothing claimed, the database is empty.
            worker = Process(["worker"], {"DATABASE_URL": url, **worker_env})
            try:
                # Loading the model takes seconds, minutes on cores other work keeps busy.
                worker.wait_for_output("started", timeout=300)
                paused = _pause(worker.pid)
                try:
                    await intake_load(base, make, 0, 2, **load)  # warm-up: connections, caches
                    idle = await intake_load(base, make, 1_000_000, args.seconds, **load)
                    await file_backlog(url, make, BACKLOG_FIRST, args.backlog)
                finally:
                    _resume(paused)
                await wait_answered(conn, args.warmup, MOST_SECONDS)
                since = time.time()
                await asyncio.sleep(min(args.window, MOST_SECONDS))
                until = time.time()
                alone = await answered_between(conn, since, until)
                # Enough left for the busy phase at the rate just measured, and some.
                need = int(alone * args.seconds * 1.5) + 200
                if (left := await pending(conn)) < need:
                    await file_backlog(url, make, BACKLOG_FIRST + args.backlog, need - left)
                await asyncio.sleep(1)
                since = time.time()
                busy = await intake_load(base, make, BUSY_FIRST, args.seconds, **load)
                until = time.time()
                during = await answered_between(conn, since, until)
                left_after = await pending(conn)
            finally:
                worker.stop()
                await conn.close()
                api.stop()
        finally:
            server.stop()

    ratios = {
        "busy_p99_over_idle": round(busy["p99_ms"] / idle["p99_ms"], 2),
        "busy_rps_over_idle": round(busy["rps"] / idle["rps"], 2),
        "answered_busy_over_alone": round(during / alone, 2) if alone else None,
    }
    return {
        "intake_idle": idle,
        "intake_busy": busy,
        "answered_alone_mps": alone,
        "answered_during_busy_mps": during,
        "ratios": ratios,
        "bars": {
            "busy_p99_le_2x_idle": ratios["busy_p99_over_idle"] <= 2,
            "busy_rps_ge_0.7_idle": ratios["busy_rps_over_idle"] >= 0.7,
            "answered_busy_ge_0.7_alone": (ratios["answered_busy_over_alone"] or 0) >= 0.7,
        },
        # The backlog outlasted the busy phase: the worker was saturated throughout.
        "backlog_left": left_after,
        "config": {
            "seconds": args.seconds,
            "load": f"{args.concurrency} clients back to back"
            if args.concurrency
            else f"open loop, {args.rate:g}/s",
            "window": args.window,
            "texts": args.texts,
            "api_workers": args.api_workers,
            "worker_nice": "default (FTE_WORKER_NICE)" if args.nice is None else args.nice,
            "cpus": os.cpu_count(),
        },
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=20, help="each intake phase")
    p.add_argument("--rate", type=float, default=300, help="submissions a second, open loop")
    p.add_argument("--concurrency", type=int, default=0, help="closed loop: clients instead")
    p.add_argument("--window", type=float, default=10, help="the worker's unloaded rate")
    p.add_argument("--backlog", type=int, default=3000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--texts", choices=sorted(TEXTS), default="support")
    p.add_argument("--api-workers", type=int, default=1, help="as `fte up` (FTE_API_WORKERS)")
    p.add_argument("--nice", type=int, help="FTE_WORKER_NICE for the worker (default: its own)")
    return p


async def main() -> None:
    print(json.dumps(await run(parser().parse_args()), indent=2))


if __name__ == "__main__":
    asyncio.run(main())
