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
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from fte.agent.runner import MessageContext
from fte.bus import kafka
from fte.bus import postgres_queue as queue
from fte.bus.dead_letters import error_text
from fte.db import connection, transaction
from fte.delivery import repository as outbound
from fte.delivery.service import TOPIC as DELIVER
from fte.kit import backoff
from fte.kit.tasks import Watchdog
from fte.worker import dead_letter as dead_letters
from fte.worker import metrics
from fte.worker.agent_consumer import (
    DB_DOWN,
    AgentWorker,
    Prepared,
    _first_of,
    _sleep_or_stop,
    backoff_seconds,
)
from fte.worker.delivery_consumer import DeliveryWorker
from fte.worker.relay import Relay

log = logging.getLogger(__name__)

_WAITING = "waits for an earlier message of its conversation"
# How long records wait after the database failed their batch, before they are tried again.
_DB_RETRY_SECONDS = 2.0


@dataclass
class _Failure:
    error: str
    ctx: MessageContext | None
    counted: bool = True


@dataclass(eq=False)
class HeldRecord:
    """A record read and not yet committed; `job` is None for a record that is not ours."""

    tp: TopicPartition
    offset: int
    job: queue.Job | None
    busy: bool = False  # in a lane's batch
    done: bool = False  # its outcome committed (or dead-lettered, or nothing to do)
    attempts: int = 0
    not_before: float = 0.0  # monotonic time of its next attempt


class Hand:
    """The records held, per partition in offset order."""

    def __init__(self) -> None:
        self.partitions: dict[TopicPartition, deque[HeldRecord]] = {}
        self._turn = 0

    def add(self, tp: TopicPartition, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        held = self.partitions.setdefault(tp, deque())
        for record in records:
            if held and record.offset <= held[-1].offset:
                continue  # already held (read again after a seek)
            try:
                job: queue.Job | None = kafka.decode(record.value or b"")
            except ValueError as exc:
                log.error("skipping %s offset %d: %s", tp, record.offset, exc)
                job = None
            held.append(HeldRecord(tp, record.offset, job, done=job is None))

    def take(self, size: int, now: float) -> list[HeldRecord]:
        """Up to `size` records to work on, each partition's oldest first, the partitions in
        turn. A record waits while an earlier one of its conversation is not finished and not
        in this batch (in a batch, a conversation's records are handled in order)."""
        batch: list[HeldRecord] = []
        tps = list(self.partitions)
        if not tps:
            return batch
        self._turn = (self._turn + 1) % len(tps)
        for tp in tps[self._turn :] + tps[: self._turn]:
            held_back: set[str] = set()
            for record in self.partitions[tp]:
                if record.done or record.job is None:
                    continue
                if len(batch) == size:
                    return batch
                key = record.job.key
                if key in held_back:
                    continue
                if record.busy or record.not_before > now:
                    held_back.add(key)
                    continue
                record.busy = True
                batch.append(record)
        return batch

    def seconds_to_next(self, now: float, cap: float) -> float:
        """Until the first record waiting for its retry is due (at most `cap`)."""
        due = [
            r.not_before
            for records in self.partitions.values()
            for r in records
            if not r.done and not r.busy and r.not_before > now
        ]
        return min(cap, max(0.0, min(due) - now)) if due else cap

    def release(self, batch: Iterable[HeldRecord], delay: float) -> None:
        """Records not finished go back, to be taken again after `delay` seconds."""
        at = time.monotonic() + delay
        for record in batch:
            record.busy = False
            if not record.done:
                record.not_before = at

    def finished(self, tp: TopicPartition) -> int | None:
        """Let go of the partition's finished records at its head: the offset to commit next
        (None when there were none)."""
        held = self.partitions.get(tp)
        offset = None
        while held and held[0].done:
            offset = held.popleft().offset + 1
        return offset

    def count(self, tp: TopicPartition) -> int:
        return len(self.partitions.get(tp, ()))

    def busy(self, tps: Iterable[TopicPartition]) -> bool:
        return any(r.busy for tp in tps for r in self.partitions.get(tp, ()))

    def drop(self, tps: Iterable[TopicPartition]) -> None:
        for tp in tps:
            self.partitions.pop(tp, None)


class HandBack(ConsumerRebalanceListener):
    """Partitions leaving this worker: their batches in flight finish, and what is finished is
    committed, before the group moves them."""

    def __init__(self, worker: KafkaAgentWorker):
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.hand_back(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        return None


class KafkaDeliveries(DeliveryWorker):
    """Replies read from the outbound topic. What is not sent is remembered for the lane, which
    retries in place with backoff (a conversation's later parts wait behind it) or
    dead-letters; the PostgreSQL queue's retry columns are not used."""

    def __init__(self, delivery: DeliveryWorker):
        super().__init__(
            delivery.pool, delivery.settings, delivery.adapters, delivery.name, delivery.sender
        )
        self.failures: dict[int, _Failure] = {}
        self.final: set[int] = set()  # failed for good: no retry can help
        self.postponed: dict[int, float] = {}  # the channel's circuit is open: seconds to wait
        self._blocked: set[str] = set()

    async def deliver(self, jobs: list[queue.Job]) -> None:
        try:
            await super().deliver(jobs)
        finally:
            self._blocked.difference_update(job.key for job in jobs)

    def forget(self, jobs: Iterable[queue.Job]) -> None:
        """Drop what was remembered of these jobs (their batch is handed back)."""
        for job in jobs:
            self.failures.pop(job.id, None)
            self.postponed.pop(job.id, None)
            self.final.discard(job.id)

    async def _deliver(self, item: tuple[queue.Job, Any]) -> None:
        job = item[0]
        if job.key in self._blocked:  # keep the conversation's parts in order
            self.failures[job.id] = _Failure(_WAITING, None, counted=False)
            return
        await super()._deliver(item)

    async def _postpone(self, job: queue.Job, error: str, seconds: float) -> None:
        self.postponed[job.id] = seconds
        self._blocked.add(job.key)

    async def _fail(
        self, job: queue.Job, message_id: uuid.UUID, exc: Exception, *, final: bool
    ) -> None:
        error = error_text(exc)
        async with connection(self.pool) as conn:
            await outbound.record_error(conn, message_id, error)
        log.warning("delivery of %s failed (attempt %d): %s", message_id, job.attempts, error)
        self.failures[job.id] = _Failure(error, None)
        if final:
            self.final.add(job.id)
        self._blocked.add(job.key)


class KafkaAgentWorker(AgentWorker):
    """Consumes the inbound and outbound topics with the group; relays the outbox; learns from
    the PostgreSQL queue."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.topics = kafka.Topics.from_settings(self.settings)
        self.deliveries = KafkaDeliveries(self.delivery) if self.delivery is not None else None
        self._failures: dict[int, _Failure] = {}
        self._blocked: set[str] = set()
        self._dlq: AIOKafkaProducer | None = None
        self._hand = Hand()
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
        await self.warm_up()
        relay_wake = asyncio.Event()
        # A task that dies stops the worker, which then exits non-zero to be restarted: a
        # relay that died quietly once left the outbox to grow while the worker looked alive.
        watchdog = Watchdog(stop)
        watchdog.spawn(Relay(self.pool, self.settings).run(stop, relay_wake), "relay")
        watchdog.spawn(self._learn_loop(stop), "learn")
        watchdog.spawn(self._listen(database_url, stop), "listen")
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
            if self.deliveries is not None:
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
                await _sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
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
                await _first_of(stop, self._room, 1.0)
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
                await _first_of(stop, self._work, wait)
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
        replies = [r for r in batch if r.job is not None and r.job.topic == DELIVER]
        messages = [r for r in batch if r not in replies]
        if messages:
            await self._attempt_answers(messages)
        if replies:
            await self._attempt_deliveries(replies)

    async def _attempt_answers(self, batch: list[HeldRecord]) -> None:
        jobs = [record.job for record in batch if record.job is not None]
        started = time.perf_counter()
        try:
            await self.answer(await self._unprocessed(jobs))
        except DB_DOWN:
            for job in jobs:
                self._failures.pop(job.id, None)
            raise
        except Exception as exc:  # the batch failed before any decision (loading, embedding)
            error = error_text(exc)
            log.exception("batch of %d records failed", len(jobs))
            for job in jobs:
                self._failures.setdefault(job.id, _Failure(error, None))
        finally:
            self._blocked.difference_update(job.key for job in jobs)
        elapsed = time.perf_counter() - started
        for record in batch:
            assert record.job is not None
            failure = self._failures.pop(record.job.id, None)
            if failure is None:
                metrics.PROCESSED.inc()
                metrics.PROCESSING_SECONDS.observe(elapsed / len(batch))
                record.done = True
            else:
                if failure.counted:
                    metrics.FAILED.inc()
                    record.attempts += 1
                if record.attempts >= self.settings.worker_max_attempts:
                    dead = replace(record.job, attempts=record.attempts)
                    await self._dead_letter_record(dead, failure)
                    record.done = True
                elif failure.counted:
                    record.not_before = time.monotonic() + backoff_seconds(
                        record.attempts, self.settings.worker_backoff_cap_seconds
                    )
            record.busy = False

    async def _attempt_deliveries(self, batch: list[HeldRecord]) -> None:
        """Send the replies; each job carries its attempt number, as a claim's does, so the
        channel's rules for a last attempt apply."""
        sender = self.deliveries
        assert sender is not None  # the outbound topic is read only with one
        jobs = [replace(r.job, attempts=r.attempts + 1) for r in batch if r.job is not None]
        try:
            await sender.deliver(await self._unprocessed(jobs))
        except DB_DOWN:
            sender.forget(jobs)
            raise
        except Exception as exc:  # loading the replies failed
            error = error_text(exc)
            log.exception("batch of %d replies failed", len(jobs))
            for job in jobs:
                sender.failures.setdefault(job.id, _Failure(error, None))
        for record, job in zip(batch, jobs, strict=True):
            wait = sender.postponed.get(job.id)
            failure = sender.failures.get(job.id)
            final = job.id in sender.final
            sender.forget([job])
            if wait is not None:  # not an attempt: the channel is resting
                record.not_before = time.monotonic() + wait
            elif failure is None:
                record.done = True
            elif failure.counted:
                record.attempts += 1
                if final or record.attempts >= self.settings.delivery_max_attempts:
                    message_id = uuid.UUID(str(job.payload["message_id"]))
                    dead_id = await sender.dead_letter(job, message_id, failure.error)
                    await self._publish_dead_letter(job, dead_id, failure.error)
                    record.done = True
                else:
                    record.not_before = time.monotonic() + backoff_seconds(record.attempts)
            record.busy = False

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

    async def _handle(self, item: Prepared) -> None:
        if item.job.key in self._blocked:  # keep the conversation's order behind a failure
            self._failures[item.job.id] = _Failure(_WAITING, item.ctx, counted=False)
            return
        await super()._handle(item)

    async def _fail(self, job: queue.Job, exc: Exception, ctx: MessageContext | None) -> None:
        """Remembered here; the lane retries in place or dead-letters."""
        error = error_text(exc)
        log.warning("message job %s failed: %s", job.id, error)
        self._failures[job.id] = _Failure(error, ctx)
        self._blocked.add(job.key)

    async def _dead_letter_record(self, job: queue.Job, failure: _Failure) -> None:
        async with transaction(self.pool) as conn:
            dead_id, handed = await dead_letters.dead_letter(
                conn, job, failure.error, self.adapters, failure.ctx
            )
        if handed is not None:
            handed.count()
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
                handled = await self._learn_batch() + await self._kb_batch()
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
