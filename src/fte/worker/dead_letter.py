"""The one way a job becomes a dead letter: into `dead_letters`, and, when it carried a
customer's message or a reply to one, its ticket handed to a person with a note saying why.

A message whose agent failed every attempt, one abandoned after its workers died, one stuck
past every re-drive, a reply no retry could deliver: each ends here, so none is dropped quietly
with its ticket left open. A reply that could not be delivered is marked failed on its message.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import asyncpg

from fte.agent.escalation import AI_UNAVAILABLE
from fte.agent.runner import MessageContext
from fte.agent.service import hand_over_unanswerable
from fte.bus import postgres_queue as queue
from fte.bus import topics
from fte.db import transaction
from fte.delivery import repository as outbound
from fte.kit.metrics import TICKETS_ESCALATED
from fte.messaging import ChannelAdapter
from fte.tickets import repository as tickets

log = logging.getLogger(__name__)

DELIVERY_FAILED = "delivery_failed"


@dataclass(frozen=True)
class HandOver:
    """A ticket handed to a person by a dead letter."""

    channel: str
    reason: str

    def count(self) -> None:
        """In the escalation metrics; call once committed (a rollback handed nothing over)."""
        TICKETS_ESCALATED.labels(self.channel, self.reason).inc()


async def bury(
    pool: asyncpg.Pool,
    job: queue.Job,
    error: str,
    adapters: dict[str, ChannelAdapter],
    ctx: MessageContext | None = None,
) -> int:
    """Dead-letter the job in a transaction of its own, counting the hand-over once committed;
    the dead letter's id."""
    async with transaction(pool) as conn:
        dead_id, handed = await dead_letter(conn, job, error, adapters, ctx)
    if handed is not None:
        handed.count()
    log.error("job %s (%s) dead-lettered as %s: %s", job.id, job.topic, dead_id, error)
    return dead_id


async def dead_letter(
    conn: asyncpg.Connection,
    job: queue.Job,
    error: str,
    adapters: dict[str, ChannelAdapter],
    ctx: MessageContext | None = None,
) -> tuple[int, HandOver | None]:
    """Dead-letter the job in the caller's transaction; (dead letter id, the hand-over, if a
    ticket was handed to a person)."""
    dead_id = await queue.dead_letter(conn, job, error)
    message_id = job.payload.get("message_id")
    if message_id is not None and job.topic == topics.DELIVER:
        await outbound.record_error(conn, uuid.UUID(str(message_id)), error, status="failed")
    if message_id is None or job.topic not in (topics.INBOUND, topics.DELIVER):
        return dead_id, None  # housekeeping (learning, embedding): no customer waits on it
    if job.topic == topics.INBOUND:
        if ctx is None:
            row = await tickets.load_message_context(conn, uuid.UUID(str(message_id)))
            if row is None:  # the ticket was deleted meanwhile
                return dead_id, None
            ctx = MessageContext.from_record(row)
        await hand_over_unanswerable(conn, ctx, adapters.get(ctx.channel))
        note = f"The agent could not answer this message (dead letter #{dead_id}): {error}"
        await tickets.record_hand_over(conn, ctx.ticket_id, AI_UNAVAILABLE, note)
        return dead_id, HandOver(ctx.channel, AI_UNAVAILABLE)
    found = await tickets.ticket_of_message(conn, uuid.UUID(str(message_id)))
    if found is None:
        return dead_id, None
    ticket_id, channel = found
    # No word to the customer: the channel that failed is the one it would go through.
    note = f"A reply could not be delivered (dead letter #{dead_id}): {error}"
    await tickets.record_hand_over(conn, ticket_id, DELIVERY_FAILED, note)
    return dead_id, HandOver(channel, DELIVERY_FAILED)
