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

from fte.bus import kafka
from fte.bus.postgres_queue import Job
from fte.channels.whatsapp_twilio.schemas import inbound_message
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.ops.embedded_tansu import EmbeddedTansu
from fte.worker.kafka_worker import KafkaWorker
from tests import factories
from tests.conftest import make_settings, serve_app
from tests.fixtures import recorded
from tests.fixtures.fake_openai import FakeOpenAI, hang
from tests.fixtures.fake_twilio import FakeTwilio
from tests.fixtures.kafka import eventually, kafka_env, running_worker, settled, tansu
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
            a, b = inbound_partitions(w1), inbound_partitions(w2)
            return bool(a) and bool(b) and len(a | b) == 4

        await eventually(shared, 30, "both workers holding partitions")
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for i in range(24):
                response = await client.post("/support/submit", json=form(i, 12))
                assert response.status_code == 201, response.text
        await eventually(lambda: all_answered(kb_pool, 24), 90, "every message answered")
        # Web-form replies are stored as sent when the decision commits.
        await eventually(lambda: all_delivered(kb_pool), 30, "every reply delivered")
        await eventually(lambda: settled(settings, kb_pool, "inbound"), 30, "all committed")

        def lags() -> list[float]:
            labels = {"topic": settings.kafka_topic_prefix + "inbound"}
            return [
                _sample("fte_kafka_consumer_lag", {**labels, "partition": str(p)}) for p in range(4)
            ]

        # Each worker refreshes the gauge once a second.
        await eventually(lambda: lags() == [0.0] * 4, 10, "no consumer lag shown")
    runs = await runs_per_message(kb_pool)
    assert sorted(runs.values()) == [1] * 24
    async with kb_pool.acquire() as conn:
        workers = {r["worker"] for r in await conn.fetch("SELECT worker FROM agent_runs")}
        unpublished = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND published_at IS NULL"
        )
    assert workers == {"w1", "w2"}
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
        await eventually(lambda: settled(settings, kb_pool, "inbound"), 30, "all committed")

        async def queue_ok() -> bool:
            return bool((await client.get("/health")).json()["queue"]["status"] == "ok")

        await eventually(queue_ok, 10, "the queue healthy again")
    assert statuses == [201] * 25
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * 25


async def test_a_poison_message_is_dead_lettered_and_replays_after_the_fix(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    env = {**kafka_env, "FTE_WORKER_MAX_ATTEMPTS": "3", "FTE_WORKER_BACKOFF_CAP_SECONDS": "0.2"}
    settings = make_settings(**env)
    dead_before = _sample("fte_dead_letters_total", {"topic": "inbound"})
    asked = {"email": "p@example.com", "name": "Pat", "subject": "Question"}
    async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
        # No adapter for this channel: every attempt fails.
        bad = await factories.ticket(kb_pool, channel="carrier_pigeon", **asked)
        good = await factories.ticket(kb_pool, **asked)

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
    (published,) = await topic_records(env, "dead-letters")
    assert published.payload["error"]


def inbound_partitions(worker: KafkaWorker) -> set[int]:
    """The partitions of the inbound topic the worker holds (it reads the outbound topic too)."""
    held = worker.consumer.assignment() if worker.consumer else set()
    return {tp.partition for tp in held if tp.topic == worker.topics.inbound}


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
                return 0 < len(inbound_partitions(here)) < 4

            await eventually(shared, 30, "the two workers sharing partitions")
            yield other
    finally:
        other.stop()


async def ask(pool: asyncpg.Pool, count: int, customers: int, *, threads: bool = False) -> None:
    """`count` questions from `customers` customers; `threads`: one conversation each."""
    for i in range(count):
        await factories.ticket(
            pool,
            f"How do I share a folder? ({i})",
            email=f"k{i % customers}@example.com",
            name="Kim",
            subject="Question",
            thread=f"thread-{i % customers}" if threads else None,
        )


async def test_a_worker_killed_mid_stream_leaves_its_messages_to_the_other(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with beside_another(kb_pool, kb_db_url, embedder, kafka_env) as doomed:
        await ask(kb_pool, 30, 10)
        doomed.wait_for_output("ticket #", timeout=60)
        doomed.kill()  # SIGKILL: no goodbye to the group, no offset commit
        await eventually(lambda: all_answered(kb_pool, 30), 120, "every message answered")
        settings = make_settings(**kafka_env)
        await eventually(lambda: settled(settings, kb_pool, "inbound"), 60, "all committed")
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
        settings = make_settings(**kafka_env)
        await eventually(lambda: settled(settings, kb_pool, "inbound"), 60, "all committed")
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
            filed = await factories.ticket(
                kb_pool,
                "How do I reset my password?",
                email="mid@example.com",
                name="Mia",
                subject="Question",
            )

            async def in_flight() -> bool:
                return len(llm.requests) > 0

            await eventually(in_flight, 60, "the doomed worker asking its model")
            doomed.kill()  # SIGKILL mid-message: no answer, no offset commit, no goodbye
            settings = make_settings(**kafka_env)
            async with running_worker(kb_pool, kb_db_url, embedder, "survivor", settings):
                await eventually(lambda: all_answered(kb_pool, 1), 120, "the message answered")
                await eventually(lambda: all_delivered(kb_pool), 30, "the reply delivered")
                await eventually(lambda: settled(settings, kb_pool, "inbound"), 60, "all committed")
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
    # FTE_KAFKA_PARTITIONS is 4: the two-partition topics are flagged, not passed as "exists".
    again = await fte("create-topics")
    assert again.returncode == 1
    assert "cli.inbound: exists with 2 partitions, not 4" in " ".join(again.stderr.split())
    short = await fte("check")
    assert short.returncode == 1 and "cli.inbound has 2" in " ".join(short.stderr.split())
    env["FTE_KAFKA_PARTITIONS"] = "2"
    assert (await fte("check")).returncode == 0


TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    # One provider call per attempt: the retries below are the worker's, with backoff.
    "FTE_DELIVERY_QUICK_RETRIES": "1",
    "FTE_DELIVERY_BACKOFF_SECONDS": "0.01",
}


async def whatsapp_question(pool: asyncpg.Pool) -> object:
    """A customer's WhatsApp message, as the webhook files it; its ticket id."""
    params = recorded.payload(
        "twilio",
        "whatsapp_incoming",
        AccountSid=TWILIO["TWILIO_ACCOUNT_SID"],
        To=TWILIO["TWILIO_WHATSAPP_FROM"],
    )
    filed = await file_inbound(pool, inbound_message(params))
    return filed.ticket_id


async def topic_records(env: dict[str, str], topic: str) -> list[Job]:
    """The outbox rows published to a topic (after the test's prefix), from its start."""
    consumer = AIOKafkaConsumer(
        env["FTE_KAFKA_TOPIC_PREFIX"] + topic,
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [kafka.decode(r.value or b"") for records in batch.values() for r in records]


async def test_replies_go_out_through_the_outbound_topic_in_order_once_past_failures(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with FakeTwilio(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]) as fake:
        env = {**kafka_env, **TWILIO, "TWILIO_API_BASE": fake.base_url}
        fake.fail(500, 503)  # two attempts fail; the third is accepted
        settings = make_settings(**env)
        async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
            ticket_id = await whatsapp_question(kb_pool)
            await eventually(lambda: all_answered(kb_pool, 1), 60, "the answer")
            await eventually(lambda: all_delivered(kb_pool), 60, "the reply sent")
            await eventually(
                lambda: settled(settings, kb_pool, "inbound", "deliver"), 30, "all committed"
            )
        async with kb_pool.acquire() as conn:
            parts = await conn.fetch(
                "SELECT m.body, m.external_id, o.processed_at FROM messages m JOIN outbox o "
                "ON o.topic = 'deliver' AND o.payload->>'message_id' = m.id::text "
                "WHERE m.ticket_id = $1 ORDER BY o.id",
                ticket_id,
            )
    assert [r.status for r in fake.requests][:2] == [500, 503]
    assert [p["Body"] for p in fake.delivered] == [p["body"] for p in parts]  # in order, once
    assert [r.sid for r in fake.requests if r.status == 201] == [p["external_id"] for p in parts]
    assert all(p["processed_at"] is not None for p in parts)
    sent = await topic_records(kafka_env, "outbound")
    assert sorted(j.payload["message_id"] for j in sent) == sorted(
        str(m) for m in await _reply_ids(kb_pool, ticket_id)
    )


async def _reply_ids(pool: asyncpg.Pool, ticket_id: object) -> list[object]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id FROM messages WHERE ticket_id = $1 AND direction = 'outbound'", ticket_id
        )
    return [r["id"] for r in rows]


async def test_a_reply_the_provider_refuses_is_dead_lettered_at_once_and_published(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with FakeTwilio(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]) as fake:
        env = {**kafka_env, **TWILIO, "TWILIO_API_BASE": fake.base_url}
        fake.fail(*[400] * 20)  # Twilio rejects the message: no retry can help
        settings = make_settings(**env)
        async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
            ticket_id = await whatsapp_question(kb_pool)

            async def all_failed() -> bool:
                async with kb_pool.acquire() as conn:
                    return bool(
                        await conn.fetchval(
                            "SELECT count(*) > 0 AND bool_and(delivery_status = 'failed') "
                            "FROM messages WHERE direction = 'outbound'"
                        )
                    )

            await eventually(all_failed, 60, "every part of the reply dead-lettered")
            await eventually(
                lambda: settled(settings, kb_pool, "inbound", "deliver"), 30, "all committed"
            )
        async with kb_pool.acquire() as conn:
            dead = await conn.fetch("SELECT topic, attempts, error FROM dead_letters")
            statuses = await conn.fetch(
                "SELECT delivery_status FROM messages WHERE ticket_id = $1 "
                "AND direction = 'outbound'",
                ticket_id,
            )
    # Each part of the reply (a long answer goes in several) is refused once, never again.
    assert statuses and {s["delivery_status"] for s in statuses} == {"failed"}
    assert [(d["topic"], d["attempts"]) for d in dead] == [("deliver", 1)] * len(statuses)
    assert len(fake.requests) == len(statuses)
    published = await topic_records(kafka_env, "dead-letters")
    assert [job.topic for job in published] == ["deliver"] * len(statuses)


async def test_replies_waiting_for_a_provider_outage_do_not_hold_up_answers(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    """Twilio down: the WhatsApp replies wait (retrying, then behind the open breaker) and fill
    their partitions' share of the worker; the inbound partitions go on being read."""
    async with FakeTwilio(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]) as fake:
        fake.down = True
        env = {
            **kafka_env,
            **TWILIO,
            "TWILIO_API_BASE": fake.base_url,
            "FTE_DELIVERY_BREAKER_FAILURES": "2",
            "FTE_DELIVERY_BREAKER_RESET_SECONDS": "120",
            "FTE_DELIVERY_MAX_ATTEMPTS": "50",
            # Two records held per partition: a few waiting replies fill one.
            "FTE_WORKER_BATCH_SIZE": "1",
            "FTE_KAFKA_CONCURRENCY": "1",
        }
        async with running_worker(kb_pool, kb_db_url, embedder, "w1", make_settings(**env)):
            await whatsapp_question(kb_pool)
            await eventually(lambda: all_answered(kb_pool, 1), 60, "the WhatsApp answer")
            await ask(kb_pool, 8, 8)  # web-form customers, while the replies wait
            await eventually(lambda: all_answered(kb_pool, 9), 60, "the web-form answers")
        async with kb_pool.acquire() as conn:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE channel = 'whatsapp' "
                "AND direction = 'outbound' AND delivery_status = 'queued'"
            )
    assert waiting > 0 and fake.delivered == []


async def test_refused_credentials_disable_the_channel_and_kafka_replies_wait_then_go_once(
    kb_pool: asyncpg.Pool, kb_db_url: str, embedder: Embedder, kafka_env: dict[str, str]
) -> None:
    async with FakeTwilio(TWILIO["TWILIO_ACCOUNT_SID"], TWILIO["TWILIO_AUTH_TOKEN"]) as fake:
        env = {
            **kafka_env,
            **TWILIO,
            "TWILIO_API_BASE": fake.base_url,
            "FTE_CHANNEL_PROBE_SECONDS": "1",
        }
        fake.fail(401)  # our token refused once (then rotated back by the account's owner)
        async with running_worker(kb_pool, kb_db_url, embedder, "w1", make_settings(**env)):
            ticket_id = await whatsapp_question(kb_pool)
            await eventually(lambda: all_answered(kb_pool, 1), 60, "the answer")
            await eventually(lambda: all_delivered(kb_pool), 60, "the reply sent after the probe")
        async with kb_pool.acquire() as conn:
            dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
            state = await conn.fetchrow("SELECT * FROM channel_state WHERE channel = 'whatsapp'")
            parts = await conn.fetchval(
                "SELECT count(*) FROM messages WHERE ticket_id = $1 AND direction = 'outbound'",
                ticket_id,
            )
    assert dead == 0
    # Disabled by the refusal, enabled by the delivery that went through: one 401, each part
    # sent once.
    assert state is not None and state["disabled_at"] is None
    assert state["changed_by"] == "delivery by w1"
    assert [r.status for r in fake.requests] == [401] + [201] * parts
