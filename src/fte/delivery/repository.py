"""SQL for outbound messages and their delivery status."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from fte.bus import postgres_queue as queue

# Only these are sent: a message already accepted by its provider is never sent again.
SENDABLE = ("queued", "failed")
# Provider callbacks only move a status forward (they can arrive out of order).
_PROGRESS = ["queued", "sent", "delivered", "read", "undelivered"]


async def load_outbound(
    conn: asyncpg.Connection, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    """Outbound messages by id, each with its thread, its customer and the message it answers
    (an id that is not an outbound message is left out)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.channel, m.body, m.subject, m.delivery_status, m.metadata,
               conv.external_thread_id, cu.name AS customer_name,
               last_in.external_id AS in_reply_to, last_in.metadata AS inbound_metadata,
               last_in.subject AS inbound_subject
        FROM messages m
        JOIN conversations conv ON conv.id = m.conversation_id
        JOIN customers cu ON cu.id = conv.customer_id
        LEFT JOIN LATERAL (
            SELECT i.external_id, i.metadata, i.subject FROM messages i
            WHERE i.conversation_id = m.conversation_id AND i.direction = 'inbound'
              AND i.created_at <= m.created_at
            ORDER BY i.created_at DESC, i.id DESC LIMIT 1
        ) last_in ON true
        WHERE m.id = ANY($1::uuid[]) AND m.direction = 'outbound'
        """,
        message_ids,
    )
    return {row["id"]: row for row in rows}


async def mark_sent(
    conn: asyncpg.Connection,
    job_id: int,
    message_id: uuid.UUID,
    external_id: str | None,
    status: str,
) -> None:
    """The provider accepted the message: its id (for status callbacks) and the status,
    committed with its delivery job's completion (one statement)."""
    await queue.complete_with(
        conn,
        job_id,
        """
        UPDATE messages SET delivery_status = $4, external_id = COALESCE($3, external_id),
                            sent_at = now(), delivery_error = NULL
        WHERE id = $2
        """,
        message_id,
        external_id,
        status,
    )


async def record_error(
    conn: asyncpg.Connection, message_id: uuid.UUID, error: str, status: str | None = None
) -> None:
    """The last provider error; with `status`, the message's delivery status too."""
    await conn.execute(
        "UPDATE messages SET delivery_error = $2, delivery_status = COALESCE($3, delivery_status) "
        "WHERE id = $1",
        message_id,
        error[:2000],
        status,
    )


async def update_status(
    conn: asyncpg.Connection, channel: str, external_id: str, status: str, error: str | None
) -> bool:
    """A provider's status callback; False when no outbound message has this id."""
    result = await conn.execute(
        """
        UPDATE messages
        SET delivery_status = CASE
                WHEN array_position($4::text[], $3) >= COALESCE(
                    array_position($4::text[], delivery_status), 0) THEN $3
                ELSE delivery_status END,
            delivery_error = COALESCE($5, delivery_error)
        WHERE channel = $1 AND external_id = $2 AND direction = 'outbound'
        """,
        channel,
        external_id,
        status,
        _PROGRESS,
        error,
    )
    return result != "UPDATE 0"


def inbound_metadata(row: asyncpg.Record) -> dict[str, Any]:
    """The metadata the adapter stored on the message being answered ({} when none)."""
    value = row["inbound_metadata"]
    return dict(value) if value else {}


async def record_breaker(
    conn: asyncpg.Connection,
    channel: str,
    state: str,
    failures: int,
    error: str | None,
    worker: str,
) -> None:
    """The channel's breaker as this worker sees it now."""
    await conn.execute(
        """
        INSERT INTO channel_health (channel, breaker, failures, last_error, worker)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (channel) DO UPDATE
        SET breaker = EXCLUDED.breaker, failures = EXCLUDED.failures,
            last_error = COALESCE(EXCLUDED.last_error, channel_health.last_error),
            worker = EXCLUDED.worker, updated_at = now()
        """,
        channel,
        state,
        failures,
        error[:2000] if error else None,
        worker,
    )


async def breaker_details(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every recorded breaker with its failures, last error and when it last changed."""
    return await conn.fetch(
        "SELECT channel, breaker, failures, last_error, worker, updated_at FROM channel_health "
        "ORDER BY (breaker = 'closed'), channel"
    )
