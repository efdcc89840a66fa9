"""The Kafka bus against a real Tansu broker: relay, consumer group, faults, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import httpx
import prometheus_client
from aiokafka import AIOKafkaConsumer

from fte.agent.embeddings import Embedder
from fte.bus import kafka
from fte.channels.base import Identity, InboundMessage
from fte.intake.service import file_inbound
from fte.ops.embedded_tansu import EmbeddedTansu
from tests.conftest import make_settings, serve_app
from tests.fixtures.fake_openai import FakeOpenAI, hang
from tests.fixtures.kafka import eventually, kafka_env, running_worker, tansu
from tests.fixtures.processes import Process

__all__ = ["kafka_env", "tansu"]  # fixtures


def form(i: int, customers: int) -> dict[str, str]:
    return {
        "name": f"Customer {i % customers}",
        "email": f"c{i % customers}@example.com",
        "subject": "Question",
        "message": f"How do I reset my password? (asking for the {i}th time)",
    }


async def runs_per_message(pool: asyncpg.Pool) -> dict[object, int]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT m.id, count(r.id) AS runs FROM messages m "
            "LEFT JOIN agent_runs r ON r.message_id = m.id "
            "WHERE m.direction = 'inbound' GROUP BY m.id"
        )
    return {r["id"]: r["runs"] for r in rows}


async def all_answered(pool: asyncpg.Pool, expected: int) -> bool:
    runs = await runs_per_message(pool)
    return len(runs) == expected and all(n >= 1 for n in runs.values())


async def answered_out_of_order(pool: asyncpg.Pool) -> int:
    """Messages answered before an earlier message of their conversation."""
    async with pool.acquire() as conn:
        found: int = await conn.fetchval(
            """
            SELECT count(*) FROM (
                SELECT lag(r.created_at) OVER (PARTITION BY m.conversation_id
                                               ORDER BY m.created_at) AS prev_run,
                       r.created_at AS run
                FROM messages m JOIN agent_runs r ON r.message_id = m.id
                WHERE m.direction = 'inbound'
            ) s WHERE prev_run > run
            """
        )
    return found


async def all_delivered(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'outbound' "
            "AND delivery_status IS DISTINCT FROM 'sent'"
        )
    return bool(waiting == 0)


async def test_two_workers_in_one_group_answer_every_message_once_in_order(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    settings = make_settings(**kafka_env)
    async with (
        serve_app(kb_db_url, settings) as base,
        running_worker(kb_pool, kb_db_url, embedder, "w1", settings) as w1,
        running_worker(kb_pool, kb_db_url, embedder, "w2", settings) as w2,
    ):

        async def shared() -> bool:
            a = w1.consumer.assignment() if w1.consumer else set()
            b = w2.consumer.assignment() if w2.consumer else set()
            return bool(a) and bool(b) and len(a | b) == 4

        await eventually(shared, 30, "both workers holding partitions")
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for i in range(24):
                response = await client.post("/support/submit", json=form(i, 12))
                assert response.status_code == 201, response.text
        await eventually(lambda: all_answered(kb_pool, 24), 90, "every message answered")
        # Replies are delivered beside the consumer (the deliver jobs stay on the PostgreSQL
        # queue).
        await eventually(lambda: all_delivered(kb_pool), 30, "every reply delivered")
        await asyncio.sleep(1)  # a duplicate would show up now
    runs = await runs_per_message(kb_pool)
    assert sorted(runs.values()) == [1] * 24
    async with kb_pool.acquire() as conn:
        workers = {r["worker"] for r in await conn.fetch("SELECT worker FROM agent_runs")}
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND published_at IS NULL"
        )
    assert workers == {"w1", "w2"}
    lags = [
        _sample(
            "fte_kafka_consumer_lag",
            {"topic": settings.kafka_topic_prefix + "inbound", "partition": str(p)},
        )
        for p in range(4)
    ]
    assert lags == [0.0] * 4
    assert unpublished == 0 and await answered_out_of_order(kb_pool) == 0


async def test_broker_stopped_mid_stream_loses_nothing_and_doubles_nothing(
    kb_pool: asyncpg.Pool,
    kb_db_url: str,
    embedder: Embedder,
    kafka_env: dict[str, str],
    tansu: EmbeddedTansu,
) -> None:
    settings = make_settings(**kafka_env)
    statuses: list[int] = []
    async with (
        serve_app(kb_db_url, settings) as base,
        running_worker(kb_pool, kb_db_url, embedder, "w1", settings),
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):

        async def post(first: int, last: int) -> None:
            for i in range(first, last):
                statuses.append((await client.post("/support/submit", json=form(i, 5))).status_code)
                await asyncio.sleep(0.05)

        await post(0, 10)
        tansu.stop()
        await post(10, 20)  # intake goes on with the broker away
        health = (await client.get("/health")).json()
        assert health["queue"]["status"] == "degraded"
        assert health["queue"]["backlog"] > 0
        tansu.start()
        await kafka.create_topics(settings)  # an in-memory broker comes back empty
        await post(20, 25)
        await eventually(lambda: all_answered(kb_pool, 25), 120, "the backlog drained")
        await asyncio.sleep(1)
        assert (await client.get("/health")).json()["queue"]["status"] == "ok"
    assert statuses == [201] * 25
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * 25


async def test_a_poison_message_is_dead_lettered_and_replays_after_the_fix(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    env = {**kafka_env, "FTE_WORKER_MAX_ATTEMPTS": "3", "FTE_WORKER_BACKOFF_CAP_SECONDS": "0.2"}
    settings = make_settings(**env)
    dead_before = _sample("fte_dead_letters_total", {"topic": "inbound"})
    poison = InboundMessage(
        channel="carrier_pigeon",  # no adapter for it: every attempt fails
        identity=Identity("email", "p@example.com"),
        customer_name="Pat",
        subject="Question",
        body="How do I reset my password?",
    )
    async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
        bad = await file_inbound(kb_pool, poison)
        good = await file_inbound(
            kb_pool, InboundMessage(**{**poison.__dict__, "channel": "web_form"})
        )

        async def dead_lettered() -> bool:
            async with kb_pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM dead_letters"))

        await eventually(dead_lettered, 60, "a dead letter")
        await eventually(lambda: _has_run(kb_pool, good.message_id), 60, "the next message")
        async with kb_pool.acquire() as conn:
            dead = await conn.fetchrow("SELECT * FROM dead_letters")
        assert dead["attempts"] == 3 and "carrier_pigeon" in dead["error"]
        assert _sample("fte_dead_letters_total", {"topic": "inbound"}) == dead_before + 1

        cli_env = {**os.environ, **env, "DATABASE_URL": kb_db_url}
        listed = await asyncio.to_thread(_fte, ["dlq", "list", "--json"], cli_env)
        (entry,) = [json.loads(line) for line in listed.splitlines() if line.startswith("{")]
        assert entry["id"] == dead["id"] and "carrier_pigeon" in entry["error"]
        async with kb_pool.acquire() as conn:  # the fault is fixed
            await conn.execute(
                "UPDATE messages SET channel = 'web_form' WHERE id = $1", bad.message_id
            )
        replayed = await asyncio.to_thread(_fte, ["dlq", "replay", "--all"], cli_env)
        assert "Replayed 1" in replayed
        await eventually(lambda: _has_run(kb_pool, bad.message_id), 60, "the replayed message")
    consumer = AIOKafkaConsumer(
        settings.kafka_topic_prefix + "dead-letters",
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records = [r for recs in (await consumer.getmany(timeout_ms=5000)).values() for r in recs]
    finally:
        await consumer.stop()
    assert len(records) == 1 and kafka.decode(records[0].value or b"").payload["error"]


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    """A Prometheus sample of this process (the in-process workers' metrics)."""
    return prometheus_client.REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def _has_run(pool: asyncpg.Pool, message_id: object) -> bool:
    async with pool.acquire() as conn:
        return bool(
            await conn.fetchval("SELECT count(*) FROM agent_runs WHERE message_id = $1", message_id)
        )


def _fte(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "fte", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@contextlib.asynccontextmanager
async def beside_another(
    kb_pool: asyncpg.Pool,
    kb_db_url: str,
    embedder: Embedder,
    kafka_env: dict[str, str],
    **env: str,
) -> AsyncIterator[Process]:
    """An `fte worker` process sharing the partitions with a worker in this one."""
    settings = make_settings(**kafka_env)
    other = Process(
        ["worker"], {**kafka_env, **env, "DATABASE_URL": kb_db_url, "FTE_SECRET_KEY": "t"}
    )
    try:
        other.wait_for_output("started")
        async with running_worker(kb_pool, kb_db_url, embedder, "here", settings) as here:

            async def shared() -> bool:
                return bool(here.consumer and 0 < len(here.consumer.assignment()) < 4)

            await eventually(shared, 30, "the two workers sharing partitions")
            yield other
    finally:
        other.stop()


async def ask(pool: asyncpg.Pool, count: int, customers: int, *, threads: bool = False) -> None:
    """`count` questions from `customers` customers; `threads`: one conversation each."""
    for i in range(count):
        await file_inbound(
            pool,
            InboundMessage(
                channel="web_form",
                identity=Identity("email", f"k{i % customers}@example.com"),
                customer_name="Kim",
                subject="Question",
                body=f"How do I share a folder? ({i})",
                thread_key=f"thread-{i % customers}" if threads else None,
            ),
        )


async def test_a_worker_killed_mid_stream_leaves_its_messages_to_the_other(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with beside_another(kb_pool, kb_db_url, embedder, kafka_env) as doomed:
        await ask(kb_pool, 30, 10)
        doomed.wait_for_output("ticket #", timeout=60)
        doomed.kill()  # SIGKILL: no goodbye to the group, no offset commit
        await eventually(lambda: all_answered(kb_pool, 30), 120, "every message answered")
        await asyncio.sleep(1)
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * 30


async def test_a_worker_stopped_mid_stream_hands_back_what_it_read_ahead(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    """SIGTERM: the worker finishes the poll in hand; the poll it read (and embedded) ahead
    is not committed, so the other worker answers it, once and in order."""
    # Eight records a poll: several polls in a row.
    small_polls = {"FTE_WORKER_BATCH_SIZE": "2"}
    async with beside_another(kb_pool, kb_db_url, embedder, kafka_env, **small_polls) as leaving:
        await ask(kb_pool, 60, 6, threads=True)  # six conversations of ten messages
        leaving.wait_for_output("ticket #", timeout=60)
        assert leaving.stop() == 0
        await eventually(lambda: all_answered(kb_pool, 60), 120, "every message answered")
        await asyncio.sleep(1)
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * 60
    async with kb_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 6
    assert await answered_out_of_order(kb_pool) == 0


async def test_a_worker_killed_mid_message_leaves_it_to_the_other_answering_once(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with FakeOpenAI() as llm:
        llm.handler = lambda _: hang()  # the doomed worker is inside the message, waiting
        doomed = Process(
            ["worker"],
            {
                **kafka_env,
                "DATABASE_URL": kb_db_url,
                "FTE_SECRET_KEY": "t",
                "FTE_LLM_BASE_URL": llm.base_url,
                "FTE_LLM_MODEL": "fake-model",
                "FTE_LLM_TIMEOUT_SECONDS": "120",
            },
        )
        try:
            doomed.wait_for_output("started")
            filed = await file_inbound(
                kb_pool,
                InboundMessage(
                    channel="web_form",
                    identity=Identity("email", "mid@example.com"),
                    customer_name="Mia",
                    subject="Question",
                    body="How do I reset my password?",
                ),
            )

            async def in_flight() -> bool:
                return len(llm.requests) > 0

            await eventually(in_flight, 60, "the doomed worker asking its model")
            doomed.kill()  # SIGKILL mid-message: no answer, no offset commit, no goodbye
            async with running_worker(
                kb_pool, kb_db_url, embedder, "survivor", make_settings(**kafka_env)
            ):
                await eventually(lambda: all_answered(kb_pool, 1), 120, "the message answered")
                await eventually(lambda: all_delivered(kb_pool), 30, "the reply delivered")
                await asyncio.sleep(1)  # time for a second answer, were there one
        finally:
            doomed.stop()
    assert await runs_per_message(kb_pool) == {filed.message_id: 1}
    async with kb_pool.acquire() as conn:
        worker = await conn.fetchval("SELECT worker FROM agent_runs")
        replies = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'outbound' AND ticket_id = $1",
            filed.ticket_id,
        )
    assert worker == "survivor" and replies == 1


async def test_a_worker_refuses_to_start_without_its_topics(
    kb_db_url: str, kafka_env: dict[str, str]
) -> None:
    env = {**os.environ, **kafka_env, "DATABASE_URL": kb_db_url, "FTE_KAFKA_TOPIC_PREFIX": "none."}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fte", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "none.inbound" in result.stderr and "fte kafka create-topics" in result.stderr


async def test_fte_kafka_create_topics_then_check(kafka_env: dict[str, str]) -> None:
    env = {**os.environ, **kafka_env, "FTE_KAFKA_TOPIC_PREFIX": "cli."}

    async def fte(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "fte", "kafka", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    missing = await fte("check")
    assert missing.returncode == 1 and "cli.inbound" in missing.stderr
    created = await fte("create-topics", "--partitions", "2")
    assert created.returncode == 0 and "cli.dead-letters: created" in created.stderr
    again = await fte("create-topics")
    assert "cli.inbound: exists" in again.stderr
    assert (await fte("check")).returncode == 0
