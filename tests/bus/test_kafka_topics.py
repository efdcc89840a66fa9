"""Topics are created on purpose only: a relay or worker naming a missing topic never creates it
with the broker's default partition count (the real Tansu broker, which auto-creates when
asked)."""

from __future__ import annotations

import logging

import asyncpg
import pytest

from fte.bus import kafka
from fte.embeddings import Embedder
from tests import factories
from tests.conftest import make_settings
from tests.fixtures.kafka import eventually, kafka_env, running_worker, tansu

__all__ = ["kafka_env", "tansu"]  # fixtures


async def _answered(pool: asyncpg.Pool, message_id: object) -> bool:
    async with pool.acquire() as conn:
        return bool(
            await conn.fetchval("SELECT 1 FROM agent_runs WHERE message_id = $1", message_id)
        )


async def test_a_running_worker_and_relay_never_create_the_topics(
    kb_pool: asyncpg.Pool,
    kb_db_url: str,
    embedder: Embedder,
    kafka_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A prefix nobody created, as after an in-memory broker's restart; and a partition count
    # unlike the broker's own default (4), so an auto-created topic would show.
    env = {
        **kafka_env,
        "FTE_KAFKA_TOPIC_PREFIX": kafka_env["FTE_KAFKA_TOPIC_PREFIX"] + "late.",
        "FTE_KAFKA_PARTITIONS": "3",
    }
    settings = make_settings(**env)
    caplog.set_level(logging.WARNING)
    async with running_worker(kb_pool, kb_db_url, embedder, "w1", settings):
        filed = await factories.ticket(
            kb_pool,
            "How do I reset my password?",
            email="late@example.com",
            name="Lee",
            subject="Password",
        )

        async def relay_tried() -> bool:
            return "row(s) not acknowledged" in caplog.text

        # By then the consumer has asked for the topics too (it subscribes at start).
        await eventually(relay_tried, 30, "the relay publishing to the missing topic")
        probe = await kafka.probe_topics(settings)
        assert probe.missing == kafka.Topics.from_settings(settings).all()
        assert not await _answered(kb_pool, filed.message_id)

        assert await kafka.create_topics(settings) == probe.missing
        await eventually(lambda: _answered(kb_pool, filed.message_id), 60, "the answer")
    probe = await kafka.probe_topics(settings)
    assert probe.ok and probe.missing == [] and probe.short == {}
