"""The bus: the PostgreSQL queue's backlog, or Kafka (reachable, topics, consumer lag) and the
relay's backlog."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from fte.bus import kafka, outbox, postgres_queue, topics
from fte.ops import repository
from fte.ops.checks.base import Context, Result, fail, passed, skip, warn

# The alert thresholds (deploy/prometheus/alerts.yml): FteQueueStalled, FteRelayBacklog,
# FteConsumerLagHigh.
STALLED_SECONDS = 300.0
BACKLOG_ROWS = 100
LAG_RECORDS = 100


async def check_queue(ctx: Context) -> Result:
    """Messages waiting and the oldest one's age (and with Kafka, rows not yet published);
    `data` is /health's `queue`, plus the channels' breakers."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=1.5) as conn:
        stats: dict[str, Any] = await postgres_queue.stats(conn)
        breakers = await repository.breaker_states(conn)
        if ctx.settings.bus == "kafka":
            stats["backend"] = "kafka"
            stats.update(await outbox.relay_stats(conn, topics.RELAYED))
    data = {**stats, "breakers": breakers}
    summary = (
        f"{stats['backend']}: {stats['depth']} waiting, oldest {stats['oldest_age_seconds']:.0f} s"
    )
    if "backlog" in stats:
        summary += f", {stats['backlog']} not yet published"
        if stats["backlog"] > BACKLOG_ROWS:
            return warn(
                summary,
                "the relay cannot publish: see runbook: Kafka unavailable (`fte kafka check`)",
                **data,
            )
    if stats["oldest_age_seconds"] > STALLED_SECONDS:
        return warn(
            summary,
            "workers are not keeping up: see runbook: Queue backing up (are workers running?)",
            **data,
        )
    return passed(summary, **data)


async def check_kafka(ctx: Context) -> Result:
    """A bootstrap server accepts connections (within half a second)."""
    if ctx.settings.bus != "kafka":
        return skip("FTE_BUS=postgres: no broker")
    servers = ctx.settings.kafka_bootstrap_servers
    if await asyncio.to_thread(kafka.reachable, ctx.settings, 0.5):
        return passed(f"{servers} accepts connections")
    return fail(
        f"{servers} unreachable",
        "see runbook: Kafka unavailable (KAFKA_BOOTSTRAP_SERVERS, DNS, the broker); "
        "intake goes on, rows wait in the outbox",
    )


async def check_kafka_topics(ctx: Context) -> Result:
    """Our topics exist with FTE_KAFKA_PARTITIONS partitions or more, and how far the worker
    group is behind on the inbound topic."""
    if ctx.settings.bus != "kafka":
        return skip("FTE_BUS=postgres: no topics")
    try:
        probe = await kafka.probe_topics(ctx.settings)
    except kafka.KafkaUnavailable as exc:
        return fail(str(exc), "see runbook: Kafka unavailable")
    if not probe.ok:
        return fail(probe.problems(), probe.fix(), missing=probe.missing, short=probe.short)
    lag = await consumer_lag(ctx)
    total = sum(lag.values())
    summary = f"topics present; group {ctx.settings.kafka_group_id} lag {total}"
    if total > LAG_RECORDS:
        return warn(
            summary, "workers fall behind: see runbook: Consumer lag (add workers)", lag=lag
        )
    return passed(summary, lag=lag)


async def consumer_lag(ctx: Context) -> dict[str, int]:
    """Records between the group's committed offset and the end, per inbound partition."""
    settings = ctx.settings
    topic = kafka.Topics.from_settings(settings).inbound
    consumer = AIOKafkaConsumer(
        bootstrap_servers=[s.strip() for s in settings.kafka_bootstrap_servers.split(",")],
        group_id=settings.kafka_group_id,
        enable_auto_commit=False,
        client_id="fte-doctor",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        ends = await consumer.end_offsets(tps) if tps else {}
        lag = {}
        for tp in tps:
            try:
                committed = await consumer.committed(tp)
            except KafkaError:
                committed = None
            lag[f"{tp.topic}/{tp.partition}"] = max(0, ends[tp] - (committed or 0))
        return lag
    finally:
        await consumer.stop()
