"""The `fte worker` process: load the model once, consume until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

import prometheus_client
from threadpoolctl import threadpool_limits

from fte.agent.responders.local import LocalResponder
from fte.agent.responders.openai_compatible import OpenAICompatibleResponder
from fte.agent.sentiment_cache import SentimentSource
from fte.bus import kafka
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import create_pool
from fte.embeddings import (
    EmbeddingProcess,
    TextEmbedder,
    default_processes,
    get_embedder,
    limit_threads,
)
from fte.kit.tasks import Watchdog
from fte.worker.auto_resolve import AutoResolver
from fte.worker.delivery_pipeline import DeliveryPipeline
from fte.worker.heartbeat import Heartbeat
from fte.worker.kafka_worker import KafkaWorker
from fte.worker.priority import backend_priority, lower_priority
from fte.worker.queue_worker import QueueWorker
from fte.worker.sales_sync import run_schedule
from fte.worker.stuck_redriver import Redriver

log = logging.getLogger(__name__)


class MissingTopics(RuntimeError):
    """Kafka is reachable but lacks topics this deployment needs."""


async def check_topics(settings: Settings) -> None:
    """Refuse to start on a cluster without our topics, naming them; a broker that cannot be
    reached yet is waited for by the consumer instead. Too few partitions is said, not fatal:
    the group works, with fewer members busy than FTE_KAFKA_PARTITIONS allows."""
    probe = await kafka.probe_at_start(settings, "will keep trying")
    if probe is None:
        return
    if probe.missing:
        raise MissingTopics(
            f"missing Kafka topics: {', '.join(probe.missing)} "
            f"(at {settings.kafka_bootstrap_servers}); create them with `fte kafka create-topics`"
        )
    if probe.short:
        log.error("Kafka topics: %s; %s", probe.problems(), probe.fix())


async def run_worker(settings: Settings, database_url: str) -> None:
    """Run one worker until told to stop; the batch in hand is finished first."""
    if settings.bus == "kafka":
        await check_topics(settings)
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Before the embedding processes start: they inherit the niceness.
    nice = lower_priority(settings.worker_nice)
    embedder = await asyncio.to_thread(start_embedder, settings)
    # One connection per message handled at once, plus delivery, the relay and learning;
    # the sales sync holds two while it runs (its lock, its transaction).
    syncing = settings.sales_sync_configured and settings.sales_sync_minutes > 0
    pool = await create_pool(
        database_url,
        min_size=1,
        max_size=settings.worker_concurrency + 3 + (2 if syncing else 0),
        on_connect=backend_priority(database_url, nice),
    )
    responder = build_responder(settings)
    try:
        adapters = build_registry(settings)
        kind = KafkaWorker if settings.bus == "kafka" else QueueWorker
        worker = kind(
            pool,
            settings,
            embedder,
            adapters,
            responder=responder,
            sentiment=SentimentSource(embedder),
            delivery=DeliveryPipeline(pool, settings, adapters),
        )
        # Each job beside the worker is watched: one that dies stops the process, which exits
        # non-zero (BackgroundTaskDied) so that `fte up` or Kubernetes restarts it.
        jobs = Watchdog(stop)
        for adapter in adapters.values():
            if adapter.is_configured():
                for name, task in adapter.background_tasks(pool).items():
                    jobs.spawn(task(stop), name)
        redriver = jobs.spawn(Redriver(pool, settings, adapters).run(stop), "redrive")
        jobs.spawn(Heartbeat(pool, settings).run(stop), "heartbeat")
        jobs.spawn(AutoResolver(pool, settings).run(stop), "auto-resolve")
        if syncing:
            jobs.spawn(run_schedule(pool, settings, stop), "sales-sync")
        try:
            await worker.run(stop, database_url)
        finally:
            stop.set()
            redriver.cancel()
            await jobs.close()
        jobs.check()
    finally:
        if responder is not None:
            await responder.aclose()
        await pool.close()
        if isinstance(embedder, EmbeddingProcess):
            await asyncio.to_thread(embedder.close)


def start_embedder(settings: Settings) -> TextEmbedder:
    """The model loaded in child processes, or in this one."""
    if settings.embedding_process:
        threadpool_limits(limits=settings.embedding_threads)  # numpy here (the sentiment)
        embedder = EmbeddingProcess(
            settings.embedding_device,
            settings.embedding_threads,
            settings.embedding_processes or default_processes(),
        )
        embedder.start()
        return embedder
    limit_threads(settings.embedding_threads)
    return get_embedder(settings.embedding_device)


def build_responder(settings: Settings) -> OpenAICompatibleResponder | None:
    """The configured model endpoint, with the local responder as its fallback; None: local."""
    if not settings.llm_base_url:
        return None
    # Half the lease: a slow model must fall back before another worker takes the message.
    return OpenAICompatibleResponder(
        settings, fallback=LocalResponder(), deadline_seconds=settings.worker_lease_seconds / 2
    )
