"""The workers of the PostgreSQL queue: claim a batch of a topic's jobs under a lease, run its
pipeline, and acknowledge each outcome on the queue (release the row for later, or bury it as a
dead letter). A job finished is completed by its pipeline, with its effects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncpg

from fte.agent.responders.base import Responder
from fte.bus import postgres_queue as queue
from fte.bus import topics
from fte.config import Settings
from fte.db import connection, transaction
from fte.delivery.sender import Sender
from fte.embeddings import TextEmbedder
from fte.kit import backoff
from fte.kit.tasks import Watchdog
from fte.messaging import ChannelAdapter
from fte.worker import dead_letter as dead_letters
from fte.worker import housekeeping
from fte.worker.answer_pipeline import AnswerPipeline
from fte.worker.delivery_pipeline import DeliveryPipeline
from fte.worker.loops import DB_DOWN, first_of, listen_for_jobs, sleep_or_stop, worker_id
from fte.worker.outcomes import DeadLetter, Done, Outcome, Pipeline, RetryPolicy

if TYPE_CHECKING:
    from fte.agent.sentiment_cache import SentimentSource

log = logging.getLogger(__name__)

ANSWER_LANES = 2


class QueueDriver:
    """Claims a topic's jobs for one worker and acknowledges their outcomes on the queue."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        name: str,
        adapters: dict[str, ChannelAdapter],
    ):
        self.pool = pool
        self.settings = settings
        self.name = name
        self.adapters = adapters

    async def claim(self, topic: str) -> list[queue.Job]:
        """A batch of the topic's ready jobs, leased to this worker (one statement: atomic
        without a transaction)."""
        async with connection(self.pool) as conn:
            return await queue.claim(
                conn,
                topic,
                self.name,
                self.settings.worker_batch_size,
                self.settings.worker_lease_seconds,
            )

    async def acknowledge(self, job: queue.Job, outcome: Outcome) -> None:
        """A job done was completed with its effects; one to retry is released until then (a
        try that was no attempt gives its attempt back); one given up is a dead letter."""
        if isinstance(outcome, Done):
            return
        if isinstance(outcome, DeadLetter):
            await dead_letters.bury(self.pool, job, outcome.error, self.adapters, outcome.ctx)
            return
        async with transaction(self.pool) as conn:
            if outcome.attempt:
                await queue.retry_later(conn, job, outcome.error, outcome.after_seconds)
            else:
                await queue.postpone(conn, job, outcome.error, outcome.after_seconds)

    async def settle(self, jobs: list[queue.Job], pipeline: Pipeline) -> None:
        """Run the pipeline on these claimed jobs and acknowledge each outcome."""
        if not jobs:
            return
        for job, outcome in zip(jobs, await pipeline(jobs), strict=True):
            await self.acknowledge(job, outcome)

    async def claim_and_settle(self, topic: str, pipeline: Pipeline) -> int:
        """Claim a batch of the topic and settle it; the number of jobs claimed."""
        jobs = await self.claim(topic)
        await self.settle(jobs, pipeline)
        return len(jobs)


class Housekeeping:
    """Learning from resolved tickets and re-embedding edited articles: the PostgreSQL queue's
    jobs in either bus mode (only `inbound` and `deliver` are relayed to Kafka)."""

    def __init__(self, driver: QueueDriver, embedder: TextEmbedder):
        self.driver = driver
        self.embedder = embedder
        self.policy = RetryPolicy.for_jobs(driver.settings)

    async def run_once(self) -> int:
        """Claim and settle one batch of each topic; the number of jobs claimed."""
        pool, embedder, policy = self.driver.pool, self.embedder, self.policy

        async def learn(jobs: list[queue.Job]) -> list[Outcome]:
            return await housekeeping.learn(pool, embedder, policy, jobs)

        async def embed(jobs: list[queue.Job]) -> list[Outcome]:
            return await housekeeping.embed_articles(pool, embedder, policy, jobs)

        learned = await self.driver.claim_and_settle(topics.LEARN, learn)
        return learned + await self.driver.claim_and_settle(topics.KB_EMBED, embed)


class QueueWorker:
    """The PostgreSQL queue's worker: answers customer messages, learns from resolved tickets,
    re-embeds edited articles and, given a delivery pipeline, sends the replies."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        embedder: TextEmbedder,
        adapters: dict[str, ChannelAdapter],
        name: str | None = None,
        responder: Responder | None = None,
        sentiment: SentimentSource | None = None,
        delivery: DeliveryPipeline | None = None,
    ):
        self.pool = pool
        self.settings = settings
        self.name = name or worker_id()
        self.answers = AnswerPipeline(
            pool, settings, embedder, adapters, self.name, responder, sentiment
        )
        self.delivery = delivery
        self.queue = QueueDriver(pool, settings, self.name, adapters)
        self.housekeeping = Housekeeping(self.queue, embedder)
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event, database_url: str) -> None:
        """Work until `stop` is set; the batches in hand are finished first."""
        await self.answers.warm_up()
        watchdog = Watchdog(stop)
        watchdog.spawn(self._listen(database_url, stop), "listen")
        log.info("worker %s started", self.name)
        # Two batches in flight: one is embedded while the other's outcomes are written, or both
        # are embedded at once by two embedding processes. The claim hands out only a
        # conversation's oldest open message, so they never overlap.
        lanes = [_lane(stop, self._wake, self.settings, self.run_once) for _ in range(ANSWER_LANES)]
        if self.delivery is not None:
            deliver = self.delivery.deliver
            lanes.append(
                _lane(
                    stop,
                    self._wake,
                    self.settings,
                    lambda: self.queue.claim_and_settle(topics.DELIVER, deliver),
                )
            )
        try:
            await asyncio.gather(*lanes)
        finally:
            await watchdog.close(cancel=True)
            log.info("worker %s stopped", self.name)
        watchdog.check()

    async def run_once(self) -> int:
        """Claim and settle one batch of each of its topics but deliveries; the number of jobs
        claimed."""
        return await self._answer_batch() + await self.housekeeping.run_once()

    async def answer(self, jobs: list[queue.Job]) -> None:
        """Run the agent on these claimed jobs and acknowledge each outcome."""
        await self.queue.settle(jobs, self.answers.answer)

    async def _answer_batch(self) -> int:
        jobs = await self.queue.claim(topics.INBOUND)
        live = []
        for job in jobs:
            if job.attempts > self.settings.worker_max_attempts:
                error = (
                    f"abandoned after {job.attempts - 1} attempts "
                    "(worker lost or timed out each time)"
                )
                await self.queue.acknowledge(job, DeadLetter(error))
            else:
                live.append(job)
        await self.answer(live)
        return len(jobs)

    async def _listen(self, database_url: str, stop: asyncio.Event) -> None:
        await listen_for_jobs(database_url, stop, self._wake)


class DeliveryWorker:
    """The PostgreSQL queue's replies alone: claims `deliver` jobs and sends them."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        adapters: dict[str, ChannelAdapter],
        name: str | None = None,
        sender: Sender | None = None,
    ):
        self.pipeline = DeliveryPipeline(pool, settings, adapters, name, sender)
        self.queue = QueueDriver(pool, settings, self.pipeline.name, adapters)

    @property
    def sender(self) -> Sender:
        """The breakers its deliveries share."""
        return self.pipeline.sender

    async def run_once(self) -> int:
        """Claim and deliver one batch; the number of jobs claimed."""
        return await self.queue.claim_and_settle(topics.DELIVER, self.pipeline.deliver)


async def _lane(
    stop: asyncio.Event,
    wake: asyncio.Event,
    settings: Settings,
    step: Callable[[], Awaitable[int]],
) -> None:
    """Repeat `step` (claim and settle a batch) until stopped; idle until woken when there was
    nothing to do; wait and try again while the database is away."""
    failures = 0
    while not stop.is_set():
        try:
            handled = await step()
            failures = 0
        except DB_DOWN as exc:
            failures += 1
            log.warning("database unavailable (%s); retrying", type(exc).__name__)
            await sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
            continue
        except Exception:
            # A fault not foreseen must not take the worker down (and `fte up` with it): the
            # batch's leases expire, its jobs are claimed again and, after their last attempt,
            # handed to a person.
            failures += 1
            log.exception("a batch failed unexpectedly; going on")
            await sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
            continue
        if handled == 0:
            wake.clear()
            await first_of(stop, wake, settings.worker_poll_seconds)
