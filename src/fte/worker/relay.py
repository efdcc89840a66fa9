"""The outbox relay: committed outbox rows to Kafka, marked published only once acknowledged.

Intake never waits for Kafka: it commits to the outbox and answers. The relay publishes in
id order, keyed by conversation, with a time limit per batch; when the broker is away rows
wait in the outbox, and when it is back every unprocessed row goes out again in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from fte.bus import kafka, outbox
from fte.bus.postgres_queue import Job
from fte.config import Settings
from fte.db import transaction
from fte.kit import backoff
from fte.worker import metrics

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
        self._offsets: dict[tuple[str, int], int] = {}  # last acknowledged offset per partition
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
                except (
                    asyncpg.PostgresConnectionError,
                    asyncpg.InterfaceError,
                    TimeoutError,
                ) as exc:
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
                    await _wait(stop, wake, self.settings.worker_poll_seconds)
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
                    again = await outbox.republish_pending(conn, kafka.RELAYED_TOPICS)
                    log.info("Kafka is back; publishing %d unprocessed row(s) again", again)
                    self._outage = False
                rows = await outbox.unpublished(
                    conn,
                    kafka.RELAYED_TOPICS,
                    self.settings.kafka_relay_batch_size,
                    self.settings.kafka_republish_after_seconds,
                )
                if not rows:
                    return 0
                acked, error = await self._publish(producer, rows)
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

    async def _record_backlog(self) -> None:
        """Relay backlog and lag for Prometheus, at most once a second."""
        now = time.monotonic()
        if now - self._measured < 1.0:
            return
        self._measured = now
        async with self.pool.acquire() as conn:
            stats = await outbox.relay_stats(conn, kafka.RELAYED_TOPICS)
        metrics.RELAY_BACKLOG.set(stats["backlog"])
        metrics.RELAY_LAG.set(stats["oldest_unpublished_seconds"])

    async def _publish(
        self, producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]
    ) -> tuple[list[int], str | None]:
        """Send the rows; the ids to mark published and the first error. Of each conversation
        only the rows before its first failure count, so a retry keeps its order."""

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
            return [], repr(exc)
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
        self._check_offsets([f.result() for f in futures if f in done and _succeeded(f)])
        return acked, error

    def _check_offsets(self, acks: list[object]) -> None:
        """A partition whose offsets went backwards belongs to a broker that lost its log (an
        in-memory one restarted): publish every unprocessed row again, as after an outage."""
        for meta in acks:
            where = (getattr(meta, "topic", ""), getattr(meta, "partition", -1))
            offset = int(getattr(meta, "offset", -1))
            if offset < self._offsets.get(where, -1):
                if not self._outage:
                    log.warning("Kafka lost records (offsets of %s went back)", where)
                self._outage = True
            self._offsets[where] = offset

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
        if self._producer is not None:
            producer, self._producer = self._producer, None
            # Unsent records are dropped: their rows are not marked and go out again.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 2)


def _succeeded(future: asyncio.Future[object]) -> bool:
    return not future.cancelled() and future.exception() is None


async def _wait(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
