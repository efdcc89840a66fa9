"""The agent worker on Kafka: a member of the consumer group, one partition's records in order.

An offset is committed only after the database transaction of every record before it
committed. A record delivered again (a rebalance, a worker killed before its commit, the relay
publishing again after an outage) finds its outbox row processed and is skipped; were it not,
the unique agent run per message still keeps it to one reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from fte.agent.runner import MessageContext
from fte.agent.service import count_hand_over, hand_over_unanswerable
from fte.bus import kafka
from fte.bus import postgres_queue as queue
from fte.db import transaction
from fte.worker import metrics
from fte.worker.agent_consumer import (
    DB_DOWN,
    AgentWorker,
    Prepared,
    _sleep_or_stop,
    backoff_seconds,
)
from fte.worker.relay import Relay

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

_WAITING = "waits for an earlier message of its conversation"


@dataclass
class _Failure:
    error: str
    ctx: MessageContext | None
    counted: bool = True


@dataclass
class _Partition:
    """Records of one partition in hand, and how many times each has failed."""

    tp: TopicPartition
    records: dict[int, ConsumerRecord[bytes, bytes]]  # outbox id → record
    # The poll's jobs being loaded and embedded (None: left for the partition to prepare).
    ready: dict[int, asyncio.Future[Prepared | None]] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)


@dataclass
class _Poll:
    """One poll's records, and the task that loads and embeds them."""

    batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ready: dict[int, asyncio.Future[Prepared | None]]
    preparing: asyncio.Task[None] | None

    async def stop_preparing(self) -> None:
        """Cancel the loading and embedding, and wait until it has stopped."""
        if self.preparing is not None:
            self.preparing.cancel()
            await asyncio.gather(self.preparing, return_exceptions=True)


class KafkaAgentWorker(AgentWorker):
    """Consumes the inbound topic with the group; relays the outbox; learns from the queue."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.topics = kafka.Topics.from_settings(self.settings)
        self._failures: dict[int, _Failure] = {}
        self._blocked: set[str] = set()
        self._dlq: AIOKafkaProducer | None = None
        self.stop = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None  # while in the group

    async def run(self, stop: asyncio.Event, database_url: str) -> None:
        """Work until `stop`; records in hand are finished (or handed back) first."""
        self.stop = stop
        await self.warm_up()
        relay_wake = asyncio.Event()
        tasks = [
            asyncio.create_task(Relay(self.pool, self.settings).run(stop, relay_wake)),
            asyncio.create_task(self._learn_loop(stop)),
            asyncio.create_task(self._listen(database_url, stop)),
            asyncio.create_task(self._forward_wakes(stop, relay_wake)),
        ]
        try:
            await self._consume(stop)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._dlq is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._dlq.stop(), 2)
            log.info("worker %s stopped", self.name)

    async def _consume(self, stop: asyncio.Event) -> None:
        consumer = self.consumer = await self._join(stop)
        if consumer is None:
            return
        log.info("worker %s started (Kafka group %s)", self.name, self.settings.kafka_group_id)
        gate = asyncio.Semaphore(self.settings.kafka_concurrency)
        # The next poll is read, loaded and embedded (the model works in its own process) while
        # this one's partitions decide and commit; a partition's records are still handled in
        # offset order, one poll after the other. Records read ahead and not handled when the
        # worker stops are not committed: the group reads them again.
        ahead: asyncio.Task[_Poll] | None = None
        try:
            while not stop.is_set():
                poll = await (ahead or self._poll(consumer))
                ahead = None
                if not poll.batch:
                    continue
                if not stop.is_set():
                    ahead = asyncio.create_task(self._poll(consumer))
                try:
                    results = await asyncio.gather(
                        *(
                            self._partition(consumer, gate, tp, records, poll.ready)
                            for tp, records in poll.batch.items()
                        ),
                        return_exceptions=True,
                    )
                finally:
                    await poll.stop_preparing()
                if ahead is not None and (
                    stop.is_set() or any(isinstance(r, BaseException) for r in results)
                ):
                    # A partition was sent back to records it did not finish: what was read
                    # after them is read again after them.
                    await _discard(consumer, ahead)
                    ahead = None
                if any(isinstance(r, DB_DOWN) for r in results):
                    log.warning("database unavailable; records will be read again")
                    await _sleep_or_stop(stop, 2.0)
                for r in results:
                    if isinstance(r, BaseException) and not isinstance(r, DB_DOWN):
                        log.error("partition batch failed: %r", r)
                await self._update_lag(consumer)
        finally:
            if ahead is not None:
                await _discard(consumer, ahead)
            # Leaving the group hands our partitions to the others at once.
            self.consumer = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 10)

    async def _poll(self, consumer: AIOKafkaConsumer) -> _Poll:
        batch = await consumer.getmany(timeout_ms=500)
        return self._prepare_poll(batch) if batch else _Poll(batch, {}, None)

    async def _join(self, stop: asyncio.Event) -> AIOKafkaConsumer | None:
        failures = 0
        while not stop.is_set():
            consumer = kafka.consumer(self.settings, self.topics.inbound)
            try:
                await consumer.start()
                return consumer
            except (KafkaError, OSError) as exc:
                failures += 1
                log.warning("cannot join the Kafka group (%r); retrying", exc)
                with contextlib.suppress(Exception):
                    await consumer.stop()
                await _sleep_or_stop(stop, min(10.0, 0.5 * 2**failures))
        return None

    async def _partition(
        self,
        consumer: AIOKafkaConsumer,
        gate: asyncio.Semaphore,
        tp: TopicPartition,
        records: list[ConsumerRecord[bytes, bytes]],
        ready: dict[int, asyncio.Future[Prepared | None]],
    ) -> None:
        async with gate:
            part = _Partition(tp, {}, ready)
            jobs: list[queue.Job] = []
            for record in records:
                try:
                    job = kafka.decode(record.value or b"")
                except ValueError as exc:
                    log.error("skipping %s offset %d: %s", tp, record.offset, exc)
                    continue
                part.records[job.id] = record
                jobs.append(job)
            try:
                pending = await self._unprocessed(jobs)
                while pending and not self.stop.is_set():
                    pending = await self._attempt(part, pending)
                    if pending:
                        wait = backoff_seconds(
                            max(part.attempts.get(j.id, 1) for j in pending),
                            self.settings.worker_backoff_cap_seconds,
                        )
                        await _sleep_or_stop(self.stop, wait)
            except DB_DOWN:
                pending = jobs
                raise
            finally:
                await self._commit(consumer, part, records, pending)

    def _prepare_poll(
        self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> _Poll:
        """Load and embed the poll's messages in batches of `FTE_WORKER_BATCH_SIZE`, one
        partition after another, in a task of its own: a partition decides and commits as soon
        as its messages are embedded, while the next ones are (the model works in its own
        process). A batch the database fails is left to its partitions, which prepare their
        own and handle the error."""
        jobs = []
        for records in batch.values():
            for record in records:
                with contextlib.suppress(ValueError):  # logged by its partition
                    jobs.append(kafka.decode(record.value or b""))
        loop = asyncio.get_running_loop()
        futures = {job.id: loop.create_future() for job in jobs}
        preparing = asyncio.create_task(self._prepare_in_batches(jobs, futures))
        return _Poll(batch, dict(futures), preparing)  # the partitions take theirs out of it

    async def _prepare_in_batches(
        self, jobs: list[queue.Job], ready: dict[int, asyncio.Future[Prepared | None]]
    ) -> None:
        size = self.settings.worker_batch_size
        try:
            for start in range(0, len(jobs), size):
                chunk = jobs[start : start + size]
                try:
                    prepared = {
                        p.job.id: p for p in await self.prepare(await self._unprocessed(chunk))
                    }
                except Exception:  # the partitions prepare these again, and see the error
                    log.debug("preparing a batch failed; its partitions will", exc_info=True)
                    prepared = {}
                for job in chunk:
                    if not ready[job.id].done():
                        ready[job.id].set_result(prepared.get(job.id))
        finally:  # cancelled, or done: nobody waits for a job that will not come
            for future in ready.values():
                if not future.done():
                    future.set_result(None)

    async def _answer(self, part: _Partition, jobs: list[queue.Job]) -> None:
        """The jobs prepared with their poll, and any others (retries) prepared now."""
        prepared = {}
        for job in jobs:
            future = part.ready.pop(job.id, None)
            item = await future if future is not None else None
            if item is not None:
                prepared[job.id] = item
        batch = list(prepared.values()) + await self.prepare(
            [j for j in jobs if j.id not in prepared]
        )
        order = {job.id: i for i, job in enumerate(jobs)}
        await self.answer_prepared(sorted(batch, key=lambda item: order[item.job.id]))

    async def _attempt(self, part: _Partition, jobs: list[queue.Job]) -> list[queue.Job]:
        """Handle the jobs once; those to try again."""
        for job in jobs:
            self._failures.pop(job.id, None)
        started = time.perf_counter()
        try:
            await self._answer(part, jobs)
        finally:
            self._blocked.difference_update(j.key for j in jobs)
        elapsed = time.perf_counter() - started
        again = []
        for job in jobs:
            failure = self._failures.pop(job.id, None)
            if failure is None:
                metrics.PROCESSED.inc()
                metrics.PROCESSING_SECONDS.observe(elapsed / len(jobs))
                continue
            if failure.counted:
                metrics.FAILED.inc()
                part.attempts[job.id] = part.attempts.get(job.id, 0) + 1
            attempts = part.attempts.get(job.id, 0)
            if attempts >= self.settings.worker_max_attempts:
                await self._dead_letter_record(replace(job, attempts=attempts), failure)
            else:
                again.append(job)
        return again

    async def _handle(self, item: Prepared) -> None:
        if item.job.key in self._blocked:  # keep the conversation's order behind a failure
            self._failures[item.job.id] = _Failure(_WAITING, item.ctx, counted=False)
            return
        await super()._handle(item)

    async def _fail(self, job: queue.Job, exc: Exception, ctx: MessageContext | None) -> None:
        """Remembered here; the partition loop retries in place or dead-letters."""
        error = "".join(traceback.format_exception_only(exc)).strip()
        log.warning("message job %s failed: %s", job.id, error)
        self._failures[job.id] = _Failure(error, ctx)
        self._blocked.add(job.key)

    async def _dead_letter_record(self, job: queue.Job, failure: _Failure) -> None:
        async with transaction(self.pool) as conn:
            dead_id = await queue.dead_letter(conn, job, failure.error)
            if failure.ctx is not None:
                adapter = self.adapters.get(failure.ctx.channel)
                await hand_over_unanswerable(conn, failure.ctx, adapter)
        if failure.ctx is not None:
            count_hand_over(failure.ctx.channel)
        log.error("job %s dead-lettered as %s: %s", job.id, dead_id, failure.error)
        await self._publish_dead_letter(job, dead_id, failure.error)

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
            open_ids = {
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM outbox WHERE id = ANY($1::bigint[]) AND processed_at IS NULL",
                    [j.id for j in jobs],
                )
            }
        return [j for j in jobs if j.id in open_ids]

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        part: _Partition,
        records: list[ConsumerRecord[bytes, bytes]],
        pending: list[queue.Job],
    ) -> None:
        """Commit up to the first record not finished; the rest is read again."""
        if pending:
            offset = min(part.records[j.id].offset for j in pending)
            consumer.seek(part.tp, offset)
        else:
            offset = records[-1].offset + 1
        if offset <= records[0].offset:
            return
        try:
            await consumer.commit({part.tp: offset})
        except (KafkaError, AssertionError) as exc:
            # The partition moved to another worker (a rebalance): it reads these records
            # again and finds them processed.
            log.info("offset commit for %s skipped: %r", part.tp, exc)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:
                continue
            with contextlib.suppress(KafkaError, AssertionError):
                position = await consumer.position(tp)
                metrics.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, end - position))

    async def _learn_loop(self, stop: asyncio.Event) -> None:
        """Learning from resolved tickets and delivering replies stay on the PostgreSQL queue
        (only `inbound` is relayed to Kafka)."""
        while not stop.is_set():
            try:
                handled = await self._learn_batch() + await self._kb_batch()
                if self.delivery is not None:
                    handled += await self.delivery.run_once()
            except DB_DOWN:
                handled = 0
            if handled == 0:
                await _sleep_or_stop(stop, max(self.settings.worker_poll_seconds, 1.0))

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


async def _discard(consumer: AIOKafkaConsumer, ahead: asyncio.Task[_Poll]) -> None:
    """Drop a poll read ahead: its partitions go back to its first records (or stay where an
    earlier record was sent back to), which are read again."""
    ahead.cancel()
    (poll,) = await asyncio.gather(ahead, return_exceptions=True)
    if not isinstance(poll, _Poll):
        return
    await poll.stop_preparing()
    for tp, records in poll.batch.items():
        if not records:
            continue
        with contextlib.suppress(KafkaError, AssertionError):  # the partition moved
            position = await consumer.position(tp)
            consumer.seek(tp, min(position, records[0].offset))
