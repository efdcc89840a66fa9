"""The delivery pipeline: a batch of replies in, one outcome per reply out. Each message part
is sent once through its channel's adapter, and what happened is recorded on the message."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from fte.bus import postgres_queue as queue
from fte.bus import topics
from fte.bus.dead_letters import error_text
from fte.channels import state as channel_state
from fte.config import Settings
from fte.db import connection, transaction
from fte.delivery import repository as outbound
from fte.delivery.sender import Sender
from fte.kit import logging as trace
from fte.kit.circuit_breaker import CircuitOpenError
from fte.kit.metrics import DELIVERY_FAILURES
from fte.messaging import (
    ChannelAdapter,
    ChannelAuthError,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
)
from fte.worker.loops import DB_DOWN, worker_id
from fte.worker.outcomes import DONE, Outcome, RetryAt, RetryPolicy, in_order_per_conversation

log = logging.getLogger(__name__)


class Permanent(Exception):
    """Retrying cannot help: the job becomes a dead letter at once."""


class DeliveryPipeline:
    """Replies to the channels: one provider call per outbound message part."""

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
        self.policy = RetryPolicy.for_deliveries(settings)
        self._recorded: dict[str, str] = {}  # each channel's breaker state as last written
        # Channels disabled (refused credentials) as of this batch, with why.
        self._disabled: dict[str, str] = {}

    async def deliver(self, jobs: list[queue.Job]) -> list[Outcome]:
        """Send these jobs' messages: conversations side by side, each one's in order; one
        outcome per job, in order. A failure to load the batch, or of the database, is
        raised."""
        if not jobs:
            return []
        ids = [uuid.UUID(job.payload["message_id"]) for job in jobs]
        async with connection(self.pool) as conn:
            messages = await outbound.load_outbound(conn, ids)
            disabled = await channel_state.disabled(conn)
        self._disabled = {name: row["reason"] or "" for name, row in disabled.items()}
        return await in_order_per_conversation(
            [(job, messages.get(message_id)) for job, message_id in zip(jobs, ids, strict=True)],
            lambda item: item[0],
            self._deliver,
            self.settings.worker_concurrency,
        )

    async def _deliver(self, item: tuple[queue.Job, asyncpg.Record | None]) -> Outcome:
        job, row = item
        # The request that filed the customer's message names this delivery's lines too.
        with trace.bound(**trace.from_payload(job.payload)):
            return await self._deliver_traced(job, row)

    async def _deliver_traced(self, job: queue.Job, row: asyncpg.Record | None) -> Outcome:
        message_id = uuid.UUID(job.payload["message_id"])
        if row is None or row["delivery_status"] not in outbound.SENDABLE:
            # Deleted, or sent already (a redelivered job): never send twice.
            async with connection(self.pool) as conn:
                await queue.complete(conn, job.id)
            return DONE
        if await self._waits(row["channel"]):
            # Refused credentials disabled the channel: the reply waits, not an attempt.
            reason = f"channel {row['channel']} disabled: {self._disabled[row['channel']]}"
            return RetryAt(self.settings.channel_probe_seconds, reason, attempt=False)
        try:
            adapter = self._adapter(row["channel"])
            try:
                receipt = await self.sender.send(adapter, _message(row))
            finally:
                await self._record_breaker(row["channel"])
        except DB_DOWN:
            raise
        except CircuitOpenError as exc:
            # The channel is resting: try again when it may close, not an attempt.
            return RetryAt(max(exc.retry_in, 0.05), str(exc), attempt=False)
        except ChannelAuthError as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            return await self._refused(message_id, row["channel"], exc)
        except (DeliveryRejected, Permanent) as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            return self.policy.after_failure(job, error_text(exc), final=True)
        except Exception as exc:
            DELIVERY_FAILURES.labels(row["channel"]).inc()
            outcome = self.policy.after_failure(job, error_text(exc))
            if isinstance(outcome, RetryAt):
                async with connection(self.pool) as conn:
                    await outbound.record_error(conn, message_id, outcome.error)
                log.warning(
                    "delivery of %s failed (attempt %d): %s",
                    message_id,
                    job.attempts,
                    outcome.error,
                )
            return outcome
        await self._sent(job, message_id, receipt)
        if self._disabled.pop(row["channel"], None) is not None:
            async with transaction(self.pool) as conn:
                await channel_state.enable(
                    conn, row["channel"], f"delivery by {self.name}", topics.DELIVER
                )
        return DONE

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

    async def _refused(self, message_id: uuid.UUID, channel: str, exc: ChannelAuthError) -> Outcome:
        """The provider refused our credentials: the channel is disabled, this reply waits
        (not an attempt) until a probe finds them working."""
        error = error_text(exc)
        async with transaction(self.pool) as conn:
            await channel_state.disable(conn, channel, str(exc), self.name)
            await outbound.record_error(conn, message_id, error)
        self._disabled[channel] = str(exc)
        return RetryAt(self.settings.channel_probe_seconds, error, attempt=False)

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
