"""The real stack: embedded PostgreSQL, `fte serve` over HTTP, `fte worker` processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres
from tests.conftest import _drop_database, _fresh_database
from tests.fixtures.db import row_counts
from tests.fixtures.processes import Process, start_api, start_worker
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.e2e


def form(message: str, email: str = "grace@example.com") -> dict[str, str]:
    return {"name": "Grace Hopper", "email": email, "subject": "Help please", "message": message}


async def wait_for_reply(client: httpx.AsyncClient, status_url: str, within: float = 60) -> dict:
    async def replied() -> dict | None:
        ticket = (await client.get(status_url)).json()
        return ticket if any(m["author"] == "support" for m in ticket["messages"]) else None

    return await eventually(replied, within, "a reply on the status page", every=0.2)


@pytest.fixture
async def stack_db(postgres: EmbeddedPostgres, kb_template_db: str) -> AsyncIterator[str]:
    name = await _fresh_database(postgres, kb_template_db)
    yield postgres.url(name)
    await _drop_database(postgres, name)


async def test_a_question_is_answered_and_a_legal_threat_escalated(stack_db: str) -> None:
    api, base = start_api(stack_db)
    worker = start_worker(stack_db)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answered = await client.post(
                base + "/support/submit",
                json=form("Hi, I forgot my password and can't sign in. How do I reset it?"),
            )
            legal = await client.post(
                base + "/support/submit",
                json=form("This is unacceptable. My lawyer will contact you about my lost files."),
            )
            assert answered.status_code == legal.status_code == 201

            reply = await wait_for_reply(client, answered.json()["status_url"])
            assert reply["status"] == "pending"
            text = reply["messages"][-1]["body"]
            assert text.startswith("Hi Grace,")
            assert "Source: Resetting your password" in text

            escalation = await wait_for_reply(client, legal.json()["status_url"])
            assert escalation["status"] == "escalated"
            assert "member of our support team" in escalation["messages"][-1]["body"]
        conn = await asyncpg.connect(stack_db)
        try:
            reason = await conn.fetchval(
                "SELECT escalation_reason FROM tickets WHERE id = $1", legal.json()["ticket_id"]
            )
        finally:
            await conn.close()
        assert reason == "legal_language"
    finally:
        worker.stop()
        api.stop()


async def test_a_worker_killed_mid_job_leaves_the_message_to_another_answering_once(
    stack_db: str,
) -> None:
    api, base = start_api(stack_db)
    doomed = start_worker(stack_db, {"FTE_WORKER_LEASE_SECONDS": "3"})
    survivor: Process | None = None
    blocker = await asyncpg.connect(stack_db)
    observer = await asyncpg.connect(stack_db)  # outside the lock's transaction: fresh stats
    try:
        # Hold the agent's commit: the worker claims the job, runs the agent, then waits here.
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE agent_runs IN EXCLUSIVE MODE")
        async with httpx.AsyncClient(timeout=10) as client:
            submitted = await client.post(
                base + "/support/submit", json=form("How do I share a folder with a colleague?")
            )
            ticket_id = submitted.json()["ticket_id"]

            async def waiting() -> bool:
                return bool(
                    await observer.fetchval(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO agent_runs%'"
                    )
                )

            await eventually(waiting, 30, "the worker at its commit", every=0.1)
            claimed_by = await observer.fetchval("SELECT claimed_by FROM outbox")
            assert claimed_by.endswith(f":{doomed.pid}")

            doomed.kill()  # mid-job: claimed, agent run, nothing committed
            survivor = start_worker(stack_db)
            await lock.commit()

            reply = await wait_for_reply(client, submitted.json()["status_url"])
        assert [m["author"] for m in reply["messages"]] == ["you", "support"]

        async def all_done() -> bool:
            # No job left to claim, and the doomed worker's statement gone with its backend
            # (PostgreSQL notices a dead client late): nothing else may arrive.
            return not await blocker.fetchval(
                "SELECT (SELECT count(*) FROM outbox WHERE processed_at IS NULL) + "
                "(SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND state = 'active' AND query LIKE '%INSERT INTO agent_runs%')"
            )

        await eventually(all_done, 30, "every job completed", every=0.2)
        runs = await blocker.fetch("SELECT worker FROM agent_runs WHERE ticket_id = $1", ticket_id)
        assert [r["worker"] for r in runs] == [survivor_name(survivor)]
        outbound = await blocker.fetchval(
            "SELECT count(*) FROM messages WHERE ticket_id = $1 AND direction = 'outbound'",
            ticket_id,
        )
        assert outbound == 1
    finally:
        await blocker.close()
        await observer.close()
        if survivor:
            survivor.stop()
        doomed.stop()
        api.stop()


def survivor_name(proc: Process) -> str:
    import socket

    return f"{socket.gethostname()}:{proc.pid}"


async def test_the_api_survives_a_database_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "restart")
    url = server.start()
    await asyncio.to_thread(migrations.upgrade, url)
    port = server.port
    api, base = start_api(url)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            assert (await client.get("/health")).json()["database"] == "active"

            server.stop()
            started = time.monotonic()
            health = await client.get("/health")
            assert time.monotonic() - started < 2.0
            assert health.status_code == 503
            assert health.json()["database"] == "inactive"
            down = await client.post("/support/submit", json=form("Anyone there?"))
            assert down.status_code == 503
            assert down.json()["error"] == "database unavailable"

            server = EmbeddedPostgres(tmp_path / "restart", port=port)
            server.start()

            async def recovered() -> bool:
                return (await client.get("/health")).status_code == 200

            await eventually(recovered, 20, "the API recovered", every=0.2)
            up = await client.post("/support/submit", json=form("Back again?"))
            assert up.status_code == 201
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        try:
            counts = await row_counts(pool)
        finally:
            await pool.close()
        assert (counts["tickets"], counts["messages"], counts["outbox"]) == (1, 1, 1)
    finally:
        api.stop()
        server.stop()
