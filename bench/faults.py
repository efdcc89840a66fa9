"""Faults under steady load: does a real `fte up` lose, double or stall messages?

    .venv/bin/python bench/faults.py [--bus postgres,kafka] [--rate 10] [--seconds 75]
                                     [--broker-down 20] [--drain 240]

For each bus, a throw-away `fte up` (`--kafka embedded` for Kafka, two workers either way) on a
data directory of its own takes web-form submissions open loop at --rate per second for
--seconds (each from its own address, so each is its own ticket), only to 127.0.0.1. Meanwhile:

  postgres_restart  at 15% of the run: the embedded PostgreSQL is stopped (fast shutdown) and
                    started again on the same port and data
  broker_stop       at 30% (Kafka only): the embedded broker is stopped, stays away
                    --broker-down seconds while submissions go on, and a new, empty one starts
                    on the same port; the topics are created again (as `fte kafka
                    create-topics` would: nothing creates them by itself)
  worker_kill       at 80%: one worker process gets SIGKILL

Then it waits (up to --drain seconds, or until nothing moved for 60 s) and counts, per
submission the API acknowledged with 201: filed once (inbound messages on its ticket), agent
runs, replies (outbound messages) — `ok` when filed once, run once and answered at most once
(a hand-over may send nothing) — and `lost` when it never got a run. Per fault:
`recovery_seconds`, from the end of the fault until every submission acknowledged before that
end had its run (null: some never did), and the submissions not acknowledged within a second
of the fault (503: the database away; -1: no answer, the API gone). When `fte up` itself exits
(it stops everything when a child dies), the bench starts it again on the same data, as an
operator would, so the count still says what was lost; `fte_up_exits` lists its exit codes and
`fte_up_survived` is false. A fault it could not make (no worker left to kill) says `error`.
Prints one JSON object, one entry per bus.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.processes import Process, free_port  # noqa: E402

from fte.bus import kafka  # noqa: E402
from fte.config import Settings  # noqa: E402
from fte.ops.embedded_postgres import EmbeddedPostgres  # noqa: E402
from fte.ops.embedded_tansu import EmbeddedTansu  # noqa: E402

QUESTIONS = [
    "How do I reset my password?",
    "Can I export my data to CSV?",
    "How do I invite a teammate to my workspace?",
    "My files stopped syncing, what should I do?",
]


@dataclass
class Sent:
    i: int
    at: float
    status: int = 0
    ticket_id: str | None = None


@dataclass
class Fault:
    name: str
    started: float = 0.0
    ended: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


class Stack:
    """One `fte up` on its own data directory and port, and what the faults started beside it
    (a PostgreSQL, a broker), stopped at the end."""

    def __init__(self, bus: str, data_dir: Path):
        self.bus = bus
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            "FTE_DATA_DIR": str(data_dir),
            "FTE_PORT": str(self.port),
            # All the load comes from one address: no per-address form limit.
            "FTE_FORM_RATE_LIMIT": "0",
            "FTE_LOG_LEVEL": "WARNING",
        }
        self.up: Process | None = None
        self.exits: list[int] = []
        self.postgres: EmbeddedPostgres | None = None  # one the bench started
        self.broker: EmbeddedTansu | None = None
        self.broker_port = 0

    def start(self) -> None:
        args = ["up", "--workers", "2"] + (["--kafka", "embedded"] if self.bus == "kafka" else [])
        self.up = Process(args, self.env)
        self.up.wait_for_output("is running", timeout=600)
        if self.bus == "kafka":
            cmd = self._broker().cmdline()
            self.broker_port = int(cmd[cmd.index("--listener-url") + 1].rsplit(":", 1)[1])

    def alive(self) -> bool:
        return self.up is not None and self.up.proc.poll() is None

    def restart(self) -> None:
        """After `fte up` exited: what the bench started goes too (an operator starts the
        whole thing again), and `fte up` starts on the same data, backlog and all."""
        if self.up is not None:
            self.exits.append(self.up.stop())
            self.up = None
        for started in (self.postgres, self.broker):
            if started is not None:
                started.stop()
        self.postgres = self.broker = None
        self.start()

    def database_url(self) -> str:
        url = EmbeddedPostgres.running_url(self.data_dir)
        if url is None:
            raise RuntimeError("no PostgreSQL runs on the data directory")
        return url

    def _broker(self) -> psutil.Process:
        """The broker `fte up` started."""
        assert self.up is not None
        for child in psutil.Process(self.up.pid).children():
            with contextlib.suppress(psutil.Error):
                if "--listener-url" in child.cmdline():
                    return child
        raise RuntimeError("no broker under fte up")

    def workers(self) -> list[psutil.Process]:
        if not self.alive():
            return []
        assert self.up is not None
        found = []
        for child in psutil.Process(self.up.pid).children():
            with contextlib.suppress(psutil.Error):
                if child.cmdline()[-1:] == ["worker"]:
                    found.append(child)
        return found

    def stop(self) -> None:
        if self.up is not None:
            self.up.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self.broker is not None:
            self.broker.stop()


def _gone(pid: int, timeout: float = 30) -> None:
    """Wait for a process to end. Not `wait()`: it is `fte up`'s child, a zombie until
    `fte up` reaps it, which it does only when it stops."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise TimeoutError(f"process {pid} did not end within {timeout:.0f}s")


async def restart_postgres(stack: Stack, fault: Fault) -> None:
    url = stack.database_url()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    pid = int((stack.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    fault.started = time.time()
    os.kill(pid, signal.SIGINT)  # fast shutdown: sessions end, what was committed stays
    await asyncio.to_thread(_gone, pid)
    fault.detail["down_at"] = round(time.time() - fault.started, 2)
    if stack.postgres is not None:  # the bench's own from an earlier restart
        stack.postgres.process = None
    server = EmbeddedPostgres(stack.data_dir, port=port)
    await asyncio.to_thread(server.start)
    stack.postgres = server
    fault.ended = time.time()


async def stop_broker(stack: Stack, fault: Fault, down: float) -> None:
    broker = stack._broker()
    fault.started = time.time()
    broker.terminate()
    await asyncio.to_thread(_gone, broker.pid)
    await asyncio.sleep(down)
    stack.broker = EmbeddedTansu(
        log_path=stack.data_dir / "tansu-bench.log", port=stack.broker_port
    )
    servers = await asyncio.to_thread(stack.broker.start)
    settings = Settings(
        FTE_BUS="kafka", KAFKA_BOOTSTRAP_SERVERS=servers, FTE_KAFKA_IDEMPOTENCE="false"
    )
    fault.detail["topics_created"] = await kafka.create_topics(settings)
    fault.ended = time.time()


async def kill_worker(stack: Stack, fault: Fault) -> None:
    workers = stack.workers()
    fault.started = fault.ended = time.time()
    fault.detail["workers_before"] = len(workers)
    if not workers:
        raise RuntimeError("no worker process is running under fte up")
    workers[0].send_signal(signal.SIGKILL)


async def load(
    http: aiohttp.ClientSession, bus: str, rate: float, seconds: float, sent: list[Sent]
) -> None:
    """Open loop: one submission every 1/rate s whatever the answers take."""
    started = time.monotonic()
    tasks = []

    async def submit(item: Sent) -> None:
        form = {
            "name": f"Load {item.i}",
            "email": f"fault-{bus}-{item.i}@example.com",
            "subject": "Question",
            "message": f"{QUESTIONS[item.i % len(QUESTIONS)]} (ref {bus}-{item.i})",
        }
        try:
            async with http.post("/support/submit", json=form) as response:
                item.status = response.status
                if response.status == 201:
                    item.ticket_id = (await response.json())["ticket_id"]
        except (aiohttp.ClientError, TimeoutError, RuntimeError):
            item.status = -1

    i = 0
    while (now := time.monotonic()) - started < seconds:
        item = Sent(i, time.time())
        sent.append(item)
        tasks.append(asyncio.create_task(submit(item)))
        i += 1
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        del now
    await asyncio.gather(*tasks)


COUNTS = """
SELECT t.id::text AS ticket_id,
       (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'inbound')
           AS filed,
       (SELECT count(*) FROM agent_runs r WHERE r.ticket_id = t.id) AS runs,
       (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id AND m.direction = 'outbound')
           AS replies,
       (SELECT max(r.decision) FROM agent_runs r WHERE r.ticket_id = t.id) AS decision,
       (SELECT EXTRACT(EPOCH FROM min(r.created_at)) FROM agent_runs r WHERE r.ticket_id = t.id)
           AS run_at
FROM tickets t WHERE t.id = ANY($1::uuid[])
"""


async def _counts(url: str, tickets: list[str]) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return {r["ticket_id"]: r for r in await conn.fetch(COUNTS, tickets)}
    finally:
        await conn.close()


async def drain(stack: Stack, tickets: list[str], limit: float) -> dict[str, asyncpg.Record]:
    """Wait until every ticket has its run, or nothing moved for 60 s, or `limit`."""
    deadline = time.monotonic() + limit
    last, moved = -1, time.monotonic()
    rows: dict[str, asyncpg.Record] = {}
    while time.monotonic() < deadline:
        if not stack.alive():
            await asyncio.to_thread(stack.restart)
        try:
            rows = await _counts(stack.database_url(), tickets)
        except (OSError, asyncpg.PostgresError, RuntimeError, TimeoutError):
            await asyncio.sleep(1)
            continue
        done = sum(1 for r in rows.values() if r["runs"] > 0)
        if done == len(tickets):
            await asyncio.sleep(3)  # a second run or reply would show up now
            return await _counts(stack.database_url(), tickets)
        if done != last:
            last, moved = done, time.monotonic()
        elif time.monotonic() - moved > 60:
            break
        await asyncio.sleep(1)
    return rows


def summarise(
    sent: list[Sent], rows: dict[str, asyncpg.Record], faults: list[Fault]
) -> dict[str, Any]:
    acked = [s for s in sent if s.status == 201 and s.ticket_id]
    per = {"ok": 0, "lost": 0, "filed_twice": 0, "runs_twice": 0, "replies_twice": 0}
    handed_over = 0
    for s in acked:
        row = rows.get(s.ticket_id or "")
        if row is None or row["runs"] == 0:
            per["lost"] += 1
            continue
        per["filed_twice"] += row["filed"] > 1
        per["runs_twice"] += row["runs"] > 1
        per["replies_twice"] += row["replies"] > 1
        handed_over += row["decision"] != "answer"
        # A hand-over may tell the customer so (one message) or not (none): never two.
        if row["filed"] == 1 and row["runs"] == 1 and row["replies"] <= 1:
            per["ok"] += 1
    statuses: dict[str, int] = {}
    for s in sent:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    report_faults = {}
    for f in faults:
        before = [s for s in acked if s.at < f.ended]
        runs = [rows[s.ticket_id or ""]["run_at"] for s in before if s.ticket_id in rows]
        recovered = len(runs) == len(before) and all(r is not None for r in runs)
        report_faults[f.name] = {
            "fault_seconds": round(f.ended - f.started, 1),
            "recovery_seconds": (
                round(max(0.0, max(float(r) for r in runs) - f.ended), 1)
                if recovered and runs
                else None
            ),
            "not_acknowledged": sum(
                1 for s in sent if f.started - 1 <= s.at <= f.ended + 1 and s.status != 201
            ),
            **f.detail,
        }
    return {
        "submitted": len(sent),
        "acknowledged": len(acked),
        "statuses": statuses,
        **per,
        "handed_over": handed_over,
        "faults": report_faults,
    }


async def inject(stack: Stack, faults: list[Fault], fault: Fault, doing: Awaitable[None]) -> None:
    """Make one fault; one that could not be made (its process gone) is reported, not fatal."""
    faults.append(fault)
    try:
        await doing
    except Exception as exc:
        fault.detail["error"] = repr(exc)
        fault.started = fault.started or time.time()
        fault.ended = time.time()
    await asyncio.sleep(2)
    fault.detail["fte_up_alive_2s_after"] = stack.alive()


async def run_bus(bus: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"fte-faults-{bus}-") as tmp:
        stack = Stack(bus, Path(tmp))
        try:
            await asyncio.to_thread(stack.start)
            sent: list[Sent] = []
            faults: list[Fault] = []
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(base_url=stack.base, timeout=timeout) as http:
                loading = asyncio.create_task(load(http, bus, args.rate, args.seconds, sent))
                began = time.monotonic()

                async def at(share: float) -> None:
                    await asyncio.sleep(max(0.0, began + share * args.seconds - time.monotonic()))

                await at(0.15)
                pg = Fault("postgres_restart")
                await inject(stack, faults, pg, restart_postgres(stack, pg))
                if bus == "kafka":
                    await at(0.3)
                    broker = Fault("broker_stop")
                    await inject(stack, faults, broker, stop_broker(stack, broker, args.down))
                await at(0.8)
                kill = Fault("worker_kill")
                await inject(stack, faults, kill, kill_worker(stack, kill))
                await loading
            load_end = time.time()
            tickets = [s.ticket_id for s in sent if s.ticket_id]
            rows = await drain(stack, tickets, args.drain)
            result = summarise(sent, rows, faults)
            result["drained_seconds"] = round(time.time() - load_end, 1)
            # `fte up` exiting is seen late (it stops its children first): count the restarts.
            result["fte_up_survived"] = not stack.exits
            result["fte_up_exits"] = stack.exits
            return result
        finally:
            await asyncio.to_thread(stack.stop)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bus", default="postgres,kafka")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--broker-down", dest="down", type=float, default=20.0)
    parser.add_argument("--drain", type=float, default=240.0)
    args = parser.parse_args()
    report: dict[str, Any] = {
        "rate": args.rate,
        "seconds": args.seconds,
        "broker_down_seconds": args.down,
    }
    for bus in args.bus.split(","):
        report[bus] = await run_bus(bus, args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
