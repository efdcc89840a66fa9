"""Records the broker acknowledged and then lost are published again promptly, by any relay,
not after FTE_KAFKA_REPUBLISH_AFTER_SECONDS (the real Tansu broker, whose memory storage
forgets everything on a restart)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx

from fte.bus import kafka
from fte.config import Settings
from fte.embeddings import Embedder
from fte.ops.embedded_tansu import EmbeddedTansu
from fte.worker.relay import Relay
from tests.conftest import make_settings, serve_app
from tests.fixtures.kafka import eventually, kafka_env, running_worker, settled, tansu
from tests.worker.test_kafka_worker import all_answered, form, runs_per_message

__all__ = ["kafka_env", "tansu"]  # fixtures

COUNT = 12


async def _all_published(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND published_at IS NULL"
        )
    return bool(waiting == 0)


async def _relayed(
    pool: asyncpg.Pool, settings: Settings, client: httpx.AsyncClient, first: int, last: int
) -> None:
    """Submit forms first..last-1 and have a relay of its own (a worker process of its own)
    publish them until every one is acknowledged."""
    stop, wake = asyncio.Event(), asyncio.Event()
    relay = asyncio.create_task(Relay(pool, settings).run(stop, wake))
    try:
        for i in range(first, last):
            response = await client.post("/support/submit", json=form(i, 4))
            assert response.status_code == 201, response.text
        wake.set()
        await eventually(lambda: _all_published(pool), 30, "messages published")
    finally:
        stop.set()
        await asyncio.wait_for(relay, 30)


async def test_records_a_restarted_broker_lost_are_answered_within_seconds_each_once(
    kb_pool: asyncpg.Pool,
    kb_db_url: str,
    embedder: Embedder,
    kafka_env: dict[str, str],
    tansu: EmbeddedTansu,
) -> None:
    settings = make_settings(**kafka_env)
    assert settings.kafka_republish_after_seconds >= 600  # the old, only, way back
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        # A relay publishes the messages and sees every one acknowledged; no worker reads them.
        await _relayed(kb_pool, settings, client, 0, COUNT)

        # The in-memory broker restarts on the same port: empty, topics created again.
        await asyncio.to_thread(tansu.stop)
        await asyncio.to_thread(tansu.start)
        await kafka.create_topics(settings)

        # A new worker (its relay never saw a publish fail) starts; nobody publishes anything.
        started = time.monotonic()
        async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
            await eventually(lambda: all_answered(kb_pool, COUNT), 30, "every message answered")
            took = time.monotonic() - started
            await eventually(lambda: settled(settings, kb_pool, "inbound"), 30, "all committed")
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * COUNT
    assert took < 30


async def test_a_publish_acknowledged_below_a_known_offset_republishes_what_was_lost(
    kb_pool: asyncpg.Pool,
    kb_db_url: str,
    embedder: Embedder,
    kafka_env: dict[str, str],
    tansu: EmbeddedTansu,
) -> None:
    # The periodic check is off: the new message's acknowledgement alone must tell the loss.
    settings = make_settings(**kafka_env, FTE_KAFKA_LOSS_CHECK_SECONDS="3600")
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        await _relayed(kb_pool, settings, client, 0, 8)
        await asyncio.to_thread(tansu.stop)
        await asyncio.to_thread(tansu.start)
        await kafka.create_topics(settings)
        await _relayed(
            kb_pool, settings, client, 8, 9
        )  # acknowledged at an offset at or below one acknowledged before

        async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
            await eventually(lambda: all_answered(kb_pool, 9), 30, "every message answered")
            await eventually(lambda: settled(settings, kb_pool, "inbound"), 30, "all committed")
    assert sorted((await runs_per_message(kb_pool)).values()) == [1] * 9
