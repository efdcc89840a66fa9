"""The outbox relay: committed outbox rows to Kafka, marked published only once acknowledged.

Intake never waits for Kafka: it commits to the outbox and answers. The relay publishes in
id order, keyed by conversation, with a time limit per batch; when the broker is away rows
wait in the outbox, and when it is back every unprocessed row goes out again in order.

A broker can also lose what it acknowledged without a publish failing (an in-memory broker
restarted between two batches, a cluster that lost an unreplicated partition). The relay keeps
an offset acknowledged per partition (its latest batch's first) in `kafka_offsets`, and notices
the loss when the broker's end offset is at or below it (checked every
FTE_KAFKA_LOSS_CHECK_SECONDS) or a publish is acknowledged at or below it; then every
unprocessed row goes out again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from fte.bus import kafka, outbox, topics
from fte.bus.postgres_queue import Job
from fte.config import Settings
from fte.db import DB_LOST, transaction
from fte.kit import backoff, metrics
from fte.worker.loops import first_of

log = logging.getLogger(__name__)


class Relay:
    """Publishes the outbox to Kafka; one per worker process, one at work at a time."""

    retry_base_seconds = 0.25
    retry_cap_seconds = 5.0

    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.settings = settings
        self.topics = kafka.Topics.from_settings(settings)
        self._producer: AIOKafkaProducer | None = None
        self._measured = 0.0
        self._watch: AIOKafkaConsumer | None = None  # reads the broker's end offsets
        self._loss_checked = 0.0
        self._outage = False  # set by a failed publish; cleared once everything is re-sent

    async def run(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Relay until `stop`; `wake` is set when new rows were committed. Any number of
        failures is survived, each waited out with a capped backoff."""
        failures = 0
        try:
            while not stop.is_set():
                wake.clear()  # rows committed from here on set it again
                try:
                    await self._record_backlog()
                    published = await self.relay_once()
                    failures = 0
                except (kafka.KafkaUnavailable, KafkaError, OSError) as exc:
                    failures += 1
                    log.warning("Kafka unavailable (%s); rows wait in the outbox", exc)
                    await self._close_producer()
                    await self._back_off(stop, failures)
                    continue
                except DB_LOST as exc:
                    failures += 1
                    log.warning("relay: database unavailable (%r); retrying", exc)
                    await self._back_off(stop, failures)
                    continue
                except Exception:  # never let the relay die quietly: rows would wait forever
                    failures += 1
                    log.exception("relay failed; retrying")
                    await self._close_producer()
                    await self._back_off(stop, failures)
                    continue
                if published == 0:
                    await first_of(stop, wake, self.settings.worker_poll_seconds)
        finally:
            await self._close_producer()

    async def _back_off(self, stop: asyncio.Event, failures: int) -> None:
        """Wait out a failure. New rows do not cut the wait short: under load they arrive all
        the time, and the relay would retry a broker that is away without pause."""
        seconds = backoff.delay(failures, self.retry_base_seconds, self.retry_cap_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def relay_once(self) -> int:
        """Publish one batch; the number of rows the broker acknowledged."""
        producer = await self._ensure_producer()
        resync = self._outage
        try:
            async with transaction(self.pool) as conn:
                if not await outbox.take_relay_turn(conn):
                    return 0
                if resync:
                    # The broker answers again: it may have lost what it held.
                    again = await outbox.republish_pending(conn, topics.RELAYED)
                    log.info("Kafka is back; publishing %d unprocessed row(s) again", again)
                    self._outage = False
                elif await self._broker_lost_records(conn):
                    again = await outbox.republish_pending(conn, topics.RELAYED)
                    log.warning("publishing %d unprocessed row(s) again", again)
                rows = await outbox.unpublished(
                    conn,
                    topics.RELAYED,
                    self.settings.kafka_relay_batch_size,
                    self.settings.kafka_republish_after_seconds,
                )
                if not rows:
                    return 0
                acked, acks, error = await self._publish(producer, rows)
                if await self._offsets_went_back(conn, acks):
                    # Before marking this batch: what went out earlier is gone, this is not.
                    again = await outbox.republish_pending(conn, topics.RELAYED)
                    log.warning("publishing %d unprocessed row(s) again", again)
                if acked:
                    await outbox.mark_published(conn, acked)
        except BaseException:
            self._outage = self._outage or resync  # rolled back: resynchronise next time
            raise
        metrics.RELAY_PUBLISHED.inc(len(acked))
        if error is not None:
            self._outage = True
            raise kafka.KafkaUnavailable(
                f"{len(rows) - len(acked)} row(s) not acknowledged: {error}"
            )
        return len(acked)

    async def _offsets_went_back(self, conn: asyncpg.Connection, acks: list[object]) -> bool:
        """Record the batch's offsets; True when one is at or below an offset acknowledged
        before: the partition's log started again, and what it held is gone."""
        if not acks:
            return False
        before = await outbox.acked_offsets(conn)
        lowest: dict[tuple[str, int], int] = {}
        for meta in acks:
            where = (str(getattr(meta, "topic", "")), int(getattr(meta, "partition", -1)))
            offset = int(getattr(meta, "offset", -1))
            lowest[where] = min(offset, lowest.get(where, offset))
        lost = sorted(w for w, low in lowest.items() if w in before and low <= before[w])
        # The batch's first offset, not its last: Tansu reports a partition's end as its last
        # producer batch's first offset + 1, so only a first offset is surely below the end.
        await outbox.set_acked_offsets(conn, lowest)
        if lost:
            log.warning("Kafka lost records: offsets of %s went back", lost)
        return bool(lost)

    async def _broker_lost_records(self, conn: asyncpg.Connection) -> bool:
        """Every FTE_KAFKA_LOSS_CHECK_SECONDS: True when a partition ends at or below an
        offset the broker acknowledged (or is gone), whose offsets are then forgotten. A broker
        that does not answer is not a loss: a publish failing tells that."""
        now = time.monotonic()
        if now - self._loss_checked < self.settings.kafka_loss_check_seconds:
            return False
        self._loss_checked = now
        acked = await outbox.acked_offsets(conn)
        if not acked:
            return False
        try:
            ends = await self._end_offsets(list(acked))
        except (KafkaError, OSError, TimeoutError) as exc:
            log.info("cannot read Kafka's end offsets (%r); checking again later", exc)
            await self._close_watch()
            return False
        lost = sorted(w for w, offset in acked.items() if ends.get(w, 0) <= offset)
        if not lost:
            return False
        log.warning(
            "Kafka lost records: %s end below the offsets it acknowledged",
            ", ".join(f"{t}/{p} ({ends.get((t, p), 'gone')} <= {acked[t, p]})" for t, p in lost),
        )
        await outbox.forget_acked_offsets(conn, lost)
        return True

    async def _end_offsets(self, where: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The next offset of each partition whose topic exists (a missing topic: absent)."""
        timeout = self.settings.kafka_publish_timeout_seconds
        if self._watch is None:
            watch = kafka.watcher(self.settings)
            try:
                await asyncio.wait_for(watch.start(), timeout)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(watch.stop(), 2)
                raise
            self._watch = watch
        existing = await asyncio.wait_for(self._watch.topics(), timeout)
        tps = [TopicPartition(t, p) for t, p in where if t in existing]
        ends = await asyncio.wait_for(self._watch.end_offsets(tps), timeout) if tps else {}
        return {(tp.topic, tp.partition): int(end) for tp, end in ends.items()}

    async def _close_watch(self) -> None:
        if self._watch is not None:
            watch, self._watch = self._watch, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(watch.stop(), 2)

    async def _record_backlog(self) -> None:
        """Relay backlog and lag for Prometheus, at most once a second."""
        now = time.monotonic()
        if now - self._measured < 1.0:
            return
        self._measured = now
        async with self.pool.acquire() as conn:
            stats = await outbox.relay_stats(conn, topics.RELAYED)
        metrics.RELAY_BACKLOG.set(stats["backlog"])
        metrics.RELAY_LAG.set(stats["oldest_unpublished_seconds"])

    async def _publish(
        self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[int], list[object], str | None]:
        """Send the rows; the ids to mark published, the broker's acknowledgements (topic,
        partition, offset) and the first error. Of each conversation only the rows before its
        first failure count, so a retry keeps its order."""

        async def send_all() -> list[asyncio.Future[object]]:
            futures = []
            for row in rows:
                job = Job(row["id"], row["topic"], row["key"], row["payload"], 0)
                futures.append(
                    await producer.send(
                        self.topics.for_outbox(job.topic),
                        value=kafka.encode(job),
                        key=job.key.encode(),
                    )
                )
            return futures

        timeout = self.settings.kafka_publish_timeout_seconds
        try:
            futures = await asyncio.wait_for(send_all(), timeout)
            done, _ = await asyncio.wait(futures, timeout=timeout)
        except (KafkaError, TimeoutError) as exc:
            return [], [], repr(exc)
        acked: list[int] = []
        failed_keys: set[str] = set()
        error: str | None = None
        for row, future in zip(rows, futures, strict=True):
            ok = future in done and _succeeded(future)
            if ok and row["key"] not in failed_keys:
                acked.append(row["id"])
            elif not ok:
                failed_keys.add(row["key"])
                if error is None:
                    error = repr(future.exception()) if future in done else "timed out"
        for future in futures:
            if not future.done():
                future.cancel()
        return acked, [f.result() for f in futures if f in done and _succeeded(f)], error

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = kafka.producer(self.settings)
            try:
                await asyncio.wait_for(
                    producer.start(), self.settings.kafka_publish_timeout_seconds
                )
            except (KafkaError, OSError, TimeoutError) as exc:
                self._outage = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 2)
                raise kafka.KafkaUnavailable(f"cannot connect: {exc!r}") from exc
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        await self._close_watch()
        if self._producer is not None:
            producer, self._producer = self._producer, None
            # Unsent records are dropped: their rows are not marked and go out again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 2)


def _succeeded(future: asyncio.Future[object]) -> bool:
    return not future.cancelled() and future.exception() is None
