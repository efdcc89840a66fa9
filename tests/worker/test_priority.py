"""Intake first: a real `fte worker`, its embedding processes and its database backends run at
a lower CPU priority than the API and the API's backends (issue 22)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import psutil

from fte.worker.priority import database_is_local
from tests.fixtures.processes import Process, start_api, start_worker


def _backends_of(proc: Process, rows: list[asyncpg.Record]) -> list[psutil.Process]:
    """The PostgreSQL backends serving `proc`'s pooled connections (matched by client port;
    the worker's LISTEN connection only waits, and is left as it is)."""
    ports = {
        c.laddr.port
        for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for c in p.net_connections(kind="tcp")
        if c.raddr
    }
    return [psutil.Process(r["pid"]) for r in rows if r["client_port"] in ports]


async def test_the_worker_and_everything_it_runs_yield_the_cpu_to_intake(kb_db_url: str) -> None:
    api, base = start_api(kb_db_url)
    worker = start_worker(kb_db_url)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            sent = await client.post(
                "/support/submit",
                json={
                    "name": "Ada",
                    "email": "ada@example.com",
                    "subject": "Password",
                    "message": "I forgot my password. How can I reset it?",
                },
            )
        assert sent.status_code == 201
        conn = await asyncpg.connect(kb_db_url)
        try:
            # Answered: the worker's connections are open.
            deadline = time.monotonic() + 60
            while not await conn.fetchval("SELECT count(*) FROM agent_runs"):
                assert time.monotonic() < deadline, worker.output()
                await asyncio.sleep(0.1)
            rows = await conn.fetch(
                "SELECT pid, client_port FROM pg_stat_activity"
                " WHERE datname = current_database() AND query NOT LIKE 'LISTEN%'"
            )
        finally:
            await conn.close()

        worker_proc = psutil.Process(worker.pid)
        embedding = worker_proc.children(recursive=True)
        assert embedding, "the worker runs its model in child processes"
        assert worker_proc.nice() == 10
        assert [p.nice() for p in embedding] == [10] * len(embedding)
        worker_backends = _backends_of(worker, rows)
        assert worker_backends
        assert {p.nice() for p in worker_backends} == {10}
        # What a customer waits for keeps the default priority.
        assert psutil.Process(api.pid).nice() == 0
        api_backends = _backends_of(api, rows)
        assert api_backends
        assert {p.nice() for p in api_backends} == {0}
    finally:
        worker.stop()
        api.stop()


def test_the_priority_can_be_turned_off(kb_db_url: str) -> None:
    worker = start_worker(kb_db_url, {"FTE_WORKER_NICE": "0"})
    try:
        assert psutil.Process(worker.pid).nice() == 0
    finally:
        worker.stop()


def test_only_a_database_on_this_machine_has_backends_to_renice() -> None:
    assert database_is_local("postgresql://u:p@127.0.0.1:5432/fte")
    assert database_is_local("postgresql://u:p@localhost/fte")
    assert database_is_local("postgresql:///fte?host=/run/postgresql")
    assert not database_is_local("postgresql://u:p@db.internal:5432/fte")
    assert not database_is_local("postgresql://u:p@10.0.0.5/fte")
