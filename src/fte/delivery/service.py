"""Queueing replies for delivery, in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from fte.bus import outbox, topics
from fte.tickets import repository as tickets


def queue_key(conversation_id: uuid.UUID) -> str:
    """One key per conversation: its parts go out in order, apart from the agent's queue (a
    delivery waiting on a provider must not hold back answering the next message)."""
    return f"deliver:{conversation_id}"


async def queue_outbound(
    conn: asyncpg.Connection,
    *,
    conversation_id: uuid.UUID,
    ticket_id: uuid.UUID,
    channel: str,
    author: str,
    body: str,
    metadata: dict[str, Any] | None = None,
    sent_when_stored: bool = False,
) -> uuid.UUID:
    """Store an outbound message as `queued` and its delivery job, in one transaction; on a
    channel where storing it is delivering it (the adapter's `sent_when_stored`), as `sent`
    and no job."""
    message_id = await tickets.add_outbound_message(
        conn,
        conversation_id=conversation_id,
        ticket_id=ticket_id,
        channel=channel,
        author=author,
        body=body,
        delivery_status="sent" if sent_when_stored else "queued",
        metadata=metadata,
    )
    if not sent_when_stored:
        payload = {"message_id": str(message_id)}
        await outbox.enqueue(conn, topics.DELIVER, queue_key(conversation_id), payload)
    return message_id
