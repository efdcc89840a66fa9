"""The delivery loop: claim `deliver` jobs, send each message once, record what happened."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from fte.bus import postgres_queue as queue
from fte.bus.dead_letters import error_text
from fte.channels import state as channel_state
from fte.channels.base import (
    ChannelAdapter,
    ChannelAuthError,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
)
from fte.config import Settings
from fte.db import connection, transaction
from fte.delivery import repository as outbound
from fte.delivery.sender import Sender
from fte.delivery.service import TOPIC
from fte.kit import logging as trace
from fte.kit.circuit_breaker import CircuitOpenError
from fte.kit.ordered import in_order_per_key
from fte.ops.metrics import DELIVERY_FAILURES
from fte.worker import dead_letter as dead_letters
from fte.worker.agent_consumer import DB_DOWN, backoff_seconds, worker_id

log = logging.getLogger(__name__)


class Permanent(Exception):
    """Retrying cannot help: the job becomes a dead letter at once."""


class DeliveryWorker:
    """Consumes the `deliver` topic: one provider call per outbound message part."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        adapters: dict[str, ChannelAdapter],
        name: str | None = None,
        sender: Sender | None = None,
    ):
        self.pool = pool
        self.settings = settings
        self.adapters = adapters
        self.name = name or worker_id()
        self.sender = sender or Sender(settings)
        self._recorded: dict[str, str] = {}
        # Channels disabled (refused credentials) as of this batch, with why.
        self._disabled: dict[str, str] = {}

    async def run_once(self) -> int:
        """Claim and deliver one batch; the number of jobs claimed."""
        # The claim is one statement: atomic without a transaction.
        async with connection(self.pool) as conn:
            jobs = await queue.claim(
                conn,
                TOPIC,
                self.name,
                self.settings.worker_batch_size,
                self.settings.worker_lease_seconds,
            )
        await self.deliver(jobs)
        return len(jobs)

    async def deliver(self, jobs: list[queue.Job]) -> None:
        """Send these jobs' messages: conversations side by side, each one's in order."""
        if not jobs:
            return
        ids = [uuid.UUID(job.payload["message_id"]) for job in jobs]
        async with connection(self.pool) as conn:
            messages = await outbound.load_outbound(conn, ids)
            disabled = await channel_state.disabled(conn)
        self._disabled = {name: row["reason"] or "" for name, row in disabled.items()}
        # A claim holds one job per conversation; a Kafka batch may hold several, in order.
        await in_order_per_key(
            [(job, messages.get(message_id)) for job, message_id in zip(jobs, ids, strict=True)],
            lambda item: item[0].key,
            self._deliver,
            self.settings.worker_concurrency,
        )

    async def _deliver(self, item: tuple[queue.Job, asyncpg.Record | None]) -> None:
        job, row = item
        # The request that filed the customer's message names this delivery's lines too.
        with trace.bound(**trace.from_payload(job.payload)):
            await self._deliver_traced(job, row)

    async def _deliver_traced(self, job: queue.Job, row: asyncpg.Record | None) -> None:
        message_id = uuid.UUID(job.payload["message_id"])
        if row is None or row["delivery_status"] not in outbound.SENDABLE:
            # Deleted, or sent already (a redelivered job): never send twice.
            async with connection(self.pool) as conn:
                await queue.complete(conn, job.id)
            return
        if await self._waits(row["channel"]):
            reason = f"channel {row['channel']} disabled: {self._disabled[row['channel']]}"
            await self._postpone(job, reason, self.settings.channel_probe_seconds)
            return
        try:
            adapter = self._adapter(row["channel"])
            try:
                receipt = await self.sender.send(adapter, _message(row))
            finally:
                await self._record_breaker(row["channel"])
        except DB_DOWN:
            raise
        except CircuitOpenError as exc:
            await self._postpone(job, str(exc), max(exc.retry_in, 0.05))
            return
        except ChannelAuthError as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            await self._refused(job, message_id, row["channel"], exc)
            return
        except (DeliveryRejected, Permanent) as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            await self._fail(job, message_id, exc, final=True)
            return
        except Exception as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            await self._fail(
                job, message_id, exc, final=job.attempts >= self.settings.delivery_max_attempts
            )
            return
        await self._sent(job, message_id, receipt)
        if self._disabled.pop(row["channel"], None) is not None:
            async with transaction(self.pool) as conn:
                await channel_state.enable(conn, row["channel"], f"delivery by {self.name}", TOPIC)

    async def _waits(self, channel: str) -> bool:
        """True when the channel is disabled and this is not the one delivery let through to
        see whether its credentials work again."""
        if channel not in self._disabled:
            return False
        async with connection(self.pool) as conn:
            probe = await channel_state.claim_probe(
                conn, channel, self.settings.channel_probe_seconds
            )
        return not probe

    async def _refused(
        self, job: queue.Job, message_id: uuid.UUID, channel: str, exc: ChannelAuthError
    ) -> None:
        """The provider refused our credentials: the channel is disabled, this reply waits."""
        error = error_text(exc)
        async with transaction(self.pool) as conn:
            await channel_state.disable(conn, channel, str(exc), self.name)
            await outbound.record_error(conn, message_id, error)
        self._disabled[channel] = str(exc)
        await self._postpone(job, error, self.settings.channel_probe_seconds)

    async def _record_breaker(self, channel: str) -> None:
        """Write the breaker's state where /health reads it, when it changed."""
        breaker = self.sender.breaker(channel)
        state = breaker.state
        if self._recorded.get(channel) == state:
            return
        async with transaction(self.pool) as conn:
            await outbound.record_breaker(
                conn, channel, state, breaker.consecutive_failures, None, self.name
            )
        self._recorded[channel] = state

    def _adapter(self, channel: str) -> ChannelAdapter:
        adapter = self.adapters.get(channel)
        if adapter is None or not adapter.is_configured():
            raise Permanent(f"channel {channel!r} is not configured")
        return adapter

    async def _sent(self, job: queue.Job, message_id: uuid.UUID, receipt: DeliveryReceipt) -> None:
        try:
            async with connection(self.pool) as conn:
                await outbound.mark_sent(
                    conn, job.id, message_id, receipt.external_id, receipt.status
                )
        except asyncpg.UniqueViolationError:
            # The provider's id is not ours to trust as unique (a schema that still says it is).
            # The message went out all the same and must never go again: recorded without it.
            log.error("message %s: provider id %s is taken; not stored", message_id, receipt)
            async with connection(self.pool) as conn:
                await outbound.mark_sent(conn, job.id, message_id, None, receipt.status)
        log.info("message %s delivered (%s)", message_id, receipt.external_id or receipt.status)

    async def _postpone(self, job: queue.Job, error: str, seconds: float) -> None:
        """The channel's circuit is open: try again when it may close, not an attempt."""
        async with transaction(self.pool) as conn:
            await queue.postpone(conn, job, error, seconds)

    async def _fail(
        self, job: queue.Job, message_id: uuid.UUID, exc: Exception, *, final: bool
    ) -> None:
        """Retry later with backoff, or (`final`) a dead letter and a failed message (the
        Kafka worker overrides this: it retries in place)."""
        error = error_text(exc)
        if final:
            await self.dead_letter(job, message_id, error)
            return
        async with transaction(self.pool) as conn:
            await queue.retry_later(conn, job, error, backoff_seconds(job.attempts))
            await outbound.record_error(conn, message_id, error)
        log.warning("delivery of %s failed (attempt %d): %s", message_id, job.attempts, error)

    async def dead_letter(self, job: queue.Job, message_id: uuid.UUID, error: str) -> int:
        """The job to the dead letters, its message marked failed and its ticket handed to a
        person; the dead letter's id."""
        async with transaction(self.pool) as conn:
            dead_id, handed = await dead_letters.dead_letter(conn, job, error, self.adapters)
            await outbound.record_error(conn, message_id, error, status="failed")
        if handed is not None:
            handed.count()
        log.error("delivery of %s dead-lettered as %s: %s", message_id, dead_id, error)
        return dead_id


def _message(row: asyncpg.Record) -> OutboundMessage:
    inbound = outbound.inbound_metadata(row)
    metadata = dict(row["metadata"] or {})
    return OutboundMessage(
        message_id=str(row["id"]),
        channel=row["channel"],
        body=row["body"],
        to=inbound.get("reply_to"),
        customer_name=row["customer_name"],
        subject=row["subject"] or row["inbound_subject"],
        thread_key=row["external_thread_id"],
        in_reply_to=row["in_reply_to"],
        references=tuple(str(inbound.get("references") or "").split()),
        private=bool(metadata.get("private")),
    )
