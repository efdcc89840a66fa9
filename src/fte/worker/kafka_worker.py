"""The worker on Kafka: a member of the consumer group, each conversation in order.

It consumes the inbound topic (customer messages: the agent answers them) and the outbound
topic (replies: the channels send them). The records read from the worker's partitions are held
in offset order, per partition, until they are committed. `FTE_KAFKA_CONCURRENCY` lanes take
batches of `FTE_WORKER_BATCH_SIZE` from any of them, as the PostgreSQL queue's worker claims:
one batch is embedded (the model works in its own process) while another's decisions commit.
A record is taken only when every earlier record of its conversation is finished, so a
conversation is answered (and its replies sent) in order, and no conversation waits for the
rest of its partition or for a poll.

A partition's offset is committed up to its first record not finished, so only after the
database transaction of every record before it committed. A record delivered again (a
rebalance, a worker killed before its commit, the relay publishing again after an outage) finds
its outbox row processed and is skipped; were it not, the unique agent run per message still
keeps it to one reply, and a reply already sent is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from fte.agent.responders.base import Responder
from fte.bus import kafka, topics
from fte.bus import postgres_queue as queue
from fte.bus.dead_letters import error_text
from fte.config import Settings
from fte.embeddings import TextEmbedder
from fte.kit import backoff, metrics
from fte.kit.tasks import Watchdog
from fte.messaging import ChannelAdapter
from fte.worker import dead_letter as dead_letters
from fte.worker.answer_pipeline import AnswerPipeline
from fte.worker.delivery_pipeline import DeliveryPipeline
from fte.worker.hand import Hand, HeldRecord
from fte.worker.loops import DB_DOWN, first_of, listen_for_jobs, sleep_or_stop, worker_id
from fte.worker.outcomes import DONE, Done, Outcome, Pipeline, RetryAt, RetryPolicy
from fte.worker.queue_worker import Housekeeping, QueueDriver
from fte.worker.relay import Relay

if TYPE_CHECKING:
    from fte.agent.sentiment_cache import SentimentSource

log = logging.getLogger(__name__)

# How long records wait after the database failed their batch, before they are tried again.
_DB_RETRY_SECONDS = 2.0


class HandBack(ConsumerRebalanceListener):
    """Partitions leaving this worker: their batches in flight finish, and what is finished is
    committed, before the group moves them."""

    def __init__(self, worker: KafkaWorker):
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.hand_back(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


class KafkaWorker:
    """Consumes the inbound and outbound topics with the group; relays the outbox; learns and
    re-embeds articles from the PostgreSQL queue."""

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
        self.adapters = adapters
        self.name = name or worker_id()
        self.answers = AnswerPipeline(
            pool, settings, embedder, adapters, self.name, responder, sentiment
        )
        self.delivery = delivery
        self.housekeeping = Housekeeping(QueueDriver(pool, settings, self.name, adapters), embedder)
        self.topics = kafka.Topics.from_settings(settings)
        self._dlq: AIOKafkaProducer | None = None
        self._hand = Hand()
        self._wake = asyncio.Event()  # new outbox rows (LISTEN/NOTIFY)
        self._work = asyncio.Event()  # records arrived, or a batch finished
        self._room = asyncio.Event()  # records let go: the next poll may read more
        self._settled = asyncio.Event()  # a batch finished
        self._commit_lock = asyncio.Lock()
        self._lag_at = 0.0
        self.stop = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None  # while in the group

    async def run(self, stop: asyncio.Event, database_url: str) -> None:
        """Work until `stop`; the batches in hand are finished first, and the records read
        and not started are handed back (not committed: the group reads them again)."""
        self.stop = stop
        await self.answers.warm_up()
        relay_wake = asyncio.Event()
        # A task that dies stops the worker, which then exits non-zero to be restarted: a
        # relay that died quietly once left the outbox to grow while the worker looked alive.
        watchdog = Watchdog(stop)
        watchdog.spawn(Relay(self.pool, self.settings).run(stop, relay_wake), "relay")
        watchdog.spawn(self._learn_loop(stop), "learn")
        watchdog.spawn(listen_for_jobs(database_url, stop, self._wake), "listen")
        watchdog.spawn(self._forward_wakes(stop, relay_wake), "relay-wakes")
        try:
            await self._consume(stop)
        finally:
            stop.set()
            await watchdog.close()
            if self._dlq is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._dlq.stop(), 2)
            log.info("worker %s stopped", self.name)
        watchdog.check()

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = self.consumer = await self._join(stop)
        if consumer is None:
            return
        log.info("worker %s started (Kafka group %s)", self.name, self.settings.kafka_group_id)
        lanes = Watchdog(stop)  # a lane that died would leave its records held for good
        for n in range(self.settings.kafka_concurrency):
            lanes.spawn(self._answer_lane(consumer, stop), f"answer-lane-{n + 1}")
        try:
            await self._fetch(consumer, stop)
        finally:
            stop.set()
            await lanes.close()
            await self._commit(consumer, list(self._hand.partitions))
            # Leaving the group hands our partitions to the others at once.
            self.consumer = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)
        lanes.check()

    async def _join(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        failures = 0
        while not stop.is_set():
            topics = [self.topics.inbound]
            if self.delivery is not None:
                topics.append(self.topics.outbound)
            consumer = kafka.consumer(self.settings, *topics, listener=HandBack(self))
            try:
                await consumer.start()
                return consumer
            except (KafkaError, OSError) as exc:
                failures += 1
                log.warning("cannot join the Kafka group (%r); retrying", exc)
                with contextlib.suppress(Exception):
                    await consumer.stop()
                await sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
        return None

    async def _fetch(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Read from every partition holding fewer than a batch per lane, and one more: a
        partition whose records wait (a provider down, a message retrying) stops being read,
        the others go on."""
        limit = self.settings.worker_batch_size * (self.settings.kafka_concurrency + 1)
        while not stop.is_set():
            assigned = consumer.assignment()
            full = {tp for tp in assigned if self._hand.count(tp) >= limit}
            paused = consumer.paused()
            if full - paused:
                consumer.pause(*(full - paused))
            if paused - full:
                consumer.resume(*(paused - full))
            if assigned and full >= assigned:
                self._room.clear()
                await first_of(stop, self._room, 1.0)
                # Every partition is paused, so nothing comes; but a member that stops polling
                # for `max_poll_interval_ms` (a long outage) is dropped from the group.
                await consumer.getmany(timeout_ms=0)
                continue
            # While some partitions are paused, come back soon to resume those the lanes have
            # made room in, rather than wait half a second on the others.
            wait_ms = 50 if full else 500
            polled = await consumer.getmany(timeout_ms=wait_ms, max_records=limit)
            assigned = consumer.assignment()
            for tp, records in polled.items():
                if tp in assigned:  # not moved away meanwhile
                    self._hand.add(tp, records)
            if polled:
                self._work.set()
            await self._update_lag(consumer)

    async def _answer_lane(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Take a batch, handle it, commit what is finished; until stopped."""
        while not stop.is_set():
            self._work.clear()
            batch = self._hand.take(self.settings.worker_batch_size, time.monotonic())
            if not batch:
                wait = self._hand.seconds_to_next(time.monotonic(), 1.0)
                await first_of(stop, self._work, wait)
                continue
            try:
                await self._attempt(batch)
            except DB_DOWN:
                log.warning("database unavailable; %d records wait", len(batch))
                self._hand.release(batch, _DB_RETRY_SECONDS)
            self._work.set()  # the batch's conversations may go on
            self._settled.set()
            await self._commit(consumer, {record.tp for record in batch})

    async def _attempt(self, batch: list[HeldRecord]) -> None:
        """Handle the batch once (customer messages, then replies to send): finished records
        are done; failed ones wait for their retry (with backoff) or, after the last attempt,
        are dead-lettered."""
        replies = [r for r in batch if r.job is not None and r.job.topic == topics.DELIVER]
        messages = [r for r in batch if r not in replies]
        if messages:
            await self._settle(messages, self.answers.answer, self.answers.policy, answers=True)
        if replies:
            assert self.delivery is not None  # the outbound topic is read only with one
            await self._settle(replies, self.delivery.deliver, self.delivery.policy)

    async def _settle(
        self,
        batch: list[HeldRecord],
        pipeline: Pipeline,
        policy: RetryPolicy,
        *,
        answers: bool = False,
    ) -> None:
        """Run the pipeline on the records not processed yet and acknowledge each outcome.
        Each job carries its attempt number, as a claim's does, so the retry policy and a
        channel's rules for a last attempt apply."""
        jobs = [replace(r.job, attempts=r.attempts + 1) for r in batch if r.job is not None]
        started = time.perf_counter()
        try:
            todo = await self._unprocessed(jobs)
            outcomes = dict(zip((job.id for job in todo), await pipeline(todo), strict=True))
        except DB_DOWN:
            raise
        except Exception as exc:  # the batch failed before any outcome (loading, embedding)
            error = error_text(exc)
            log.exception("batch of %d records failed", len(jobs))
            outcomes = {job.id: policy.after_failure(job, error) for job in jobs}
        share = (time.perf_counter() - started) / len(batch)
        for record, job in zip(batch, jobs, strict=True):
            # A record delivered again, its row processed already, is done.
            await self._acknowledge(record, job, outcomes.get(job.id, DONE), answers, share)
            record.busy = False

    async def _acknowledge(
        self, record: HeldRecord, job: queue.Job, outcome: Outcome, answers: bool, share: float
    ) -> None:
        """Kafka's way: a record done may be committed; one to retry stays in hand until its
        time (a try that was no attempt is not counted); one given up is a dead letter, also
        published to the dead-letter topic."""
        if isinstance(outcome, Done):
            record.done = True
            if answers:
                metrics.PROCESSED.inc()
                metrics.PROCESSING_SECONDS.observe(share)
            return
        if isinstance(outcome, RetryAt) and not outcome.attempt:
            record.not_before = time.monotonic() + outcome.after_seconds
            return
        record.attempts = job.attempts
        if answers:
            metrics.FAILED.inc()
        if isinstance(outcome, RetryAt):
            record.not_before = time.monotonic() + outcome.after_seconds
            return
        dead_id = await dead_letters.bury(self.pool, job, outcome.error, self.adapters, outcome.ctx)
        await self._publish_dead_letter(job, dead_id, outcome.error)
        record.done = True

    async def hand_back(self, revoked: set[TopicPartition]) -> None:
        """Before the group moves these partitions: their batches in flight finish (for up to
        the session timeout), what is finished is committed, the rest is let go."""
        leaving = set(revoked) & set(self._hand.partitions)
        if not leaving:
            return
        deadline = time.monotonic() + self.settings.kafka_session_timeout_seconds
        while self._hand.busy(leaving) and (left := deadline - time.monotonic()) > 0:
            self._settled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), left)
        if self.consumer is not None:
            await self._commit(self.consumer, leaving)
        self._hand.drop(leaving)
        self._room.set()

    async def _publish_dead_letter(self, job: queue.Job, dead_id: int, error: str) -> None:
        """The dead-letter topic, for whoever watches it; the table is the system of record."""
        try:
            if self._dlq is None:
                self._dlq = kafka.producer(self.settings)
                await asyncio.wait_for(
                    self._dlq.start(), self.settings.kafka_publish_timeout_seconds
                )
            future = await self._dlq.send(
                self.topics.dead_letters,
                value=kafka.encode(replace(job, payload={**job.payload, "error": error})),
                key=job.key.encode(),
                headers=[("dead_letter_id", str(dead_id).encode())],
            )
            await asyncio.wait_for(future, self.settings.kafka_publish_timeout_seconds)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("dead letter %s not published to Kafka: %r", dead_id, exc)
            self._dlq = None

    async def _unprocessed(self, jobs: list[queue.Job]) -> list[queue.Job]:
        """Drop records whose outbox row is already processed (delivered again)."""
        if not jobs:
            return []
        async with self.pool.acquire() as conn:
            open_ids = await queue.still_open(conn, [j.id for j in jobs])
        return [j for j in jobs if j.id in open_ids]

    async def _commit(self, consumer: AIOKafkaConsumer, tps: Iterable[TopicPartition]) -> None:
        """Commit each partition up to its first record not finished."""
        async with self._commit_lock:
            offsets = {}
            for tp in tps:
                offset = self._hand.finished(tp)
                if offset is not None:
                    offsets[tp] = offset
            if not offsets:
                return
            self._room.set()
            try:
                await consumer.commit(offsets)
            except (KafkaError, AssertionError) as exc:
                # A partition moved to another worker (a rebalance): it reads these records
                # again and finds them processed.
                log.info("offset commit skipped: %r", exc)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        """The consumer-lag gauge, at most once a second: a partition's records from its first
        not finished (held, or not read yet) to its end."""
        now = time.monotonic()
        if now < self._lag_at:
            return
        self._lag_at = now + 1.0
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            held = self._hand.partitions.get(tp)
            with contextlib.suppress(KafkaError, AssertionError):
                start = held[0].offset if held else await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - start))

    async def _learn_loop(self, stop: asyncio.Event) -> None:
        """Learning from resolved tickets and re-embedding edited articles stay on the
        PostgreSQL queue (only `inbound` and `deliver` are relayed to Kafka)."""
        while not stop.is_set():
            try:
                handled = await self.housekeeping.run_once()
            except DB_DOWN:
                handled = 0
            if handled == 0:
                await sleep_or_stop(stop, max(self.settings.worker_poll_seconds, 1.0))

    async def _forward_wakes(self, stop: asyncio.Event, relay_wake: asyncio.Event) -> None:
        """New outbox rows (LISTEN/NOTIFY) wake the relay."""
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                waiter = asyncio.create_task(self._wake.wait())
                await asyncio.wait([waiter, stopped], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if self._wake.is_set():
                    self._wake.clear()
                    relay_wake.set()
        finally:
            stopped.cancel()
