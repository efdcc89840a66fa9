"""SQL for conversations, tickets and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

OPEN_STATUSES = ("open", "pending", "escalated")


def search_condition(words: str, number: str) -> str:
    """SQL true for a ticket `t` whose subject or messages hold every word of the parameter
    `words` as the start of a word ("bill" finds "billing"), or whose number is the parameter
    `number` (`search_number`). The words are looked up in `tickets_search_idx` (migration
    0021): no ticket's messages are read."""
    return f"(t.search_words @@ ticket_search_query({words}::text) OR t.number = {number})"


def search_number(text: str) -> int | None:
    """The ticket number a search is ("#123", "123"), else None."""
    digits = text.strip().removeprefix("#")
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else None


async def find_open_ticket_by_thread(
    conn: asyncpg.Connection, channel: str, thread_key: str
) -> uuid.UUID | None:
    """The open ticket of the open conversation on this provider thread."""
    found: uuid.UUID | None = await conn.fetchval(
        """
        SELECT t.id FROM tickets t JOIN conversations c ON c.id = t.conversation_id
        WHERE c.channel = $1 AND c.external_thread_id = $2 AND c.status = 'open'
          AND t.status IN ('open', 'pending', 'escalated')
        ORDER BY t.created_at DESC LIMIT 1
        """,
        channel,
        thread_key,
    )
    return found


async def find_message_by_external_id(
    conn: asyncpg.Connection, channel: str, external_id: str
) -> asyncpg.Record | None:
    """The already filed inbound message with this provider id, with its ticket (a reply's
    provider id may equal it: only inbound ids are ours to de-duplicate on)."""
    return await conn.fetchrow(
        """
        SELECT m.id AS message_id, m.conversation_id, t.id AS ticket_id,
               t.number AS ticket_number, t.customer_id
        FROM messages m JOIN tickets t ON t.id = m.ticket_id
        WHERE m.channel = $1 AND m.external_id = $2 AND m.direction = 'inbound'
        """,
        channel,
        external_id,
    )


async def message_metadata(conn: asyncpg.Connection, message_id: uuid.UUID) -> Any:
    """A message's provider metadata (None when there is no such message)."""
    return await conn.fetchval("SELECT metadata FROM messages WHERE id = $1", message_id)


async def get_ticket(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    """One ticket with its customer's name."""
    return await conn.fetchrow(
        """
        SELECT t.*, c.name AS customer_name
        FROM tickets t JOIN customers c ON c.id = t.customer_id
        WHERE t.id = $1
        """,
        ticket_id,
    )


async def list_messages(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    """A ticket's messages, oldest first."""
    return await conn.fetch(
        """
        SELECT id, direction, author, channel, subject, body, created_at, delivery_status,
               sentiment, sentiment_score, metadata ->> 'user_name' AS user_name,
               metadata ->> 'private' = 'true' AS private
        FROM messages WHERE ticket_id = $1 ORDER BY created_at, id
        """,
        ticket_id,
    )


async def load_message_contexts(
    conn: asyncpg.Connection, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    """Inbound messages by id, each with what the agent needs about its ticket and customer,
    and the sentiment labels of the ticket's earlier customer messages, oldest first (a
    message that no longer exists is left out)."""
    rows = await conn.fetch(
        """
        SELECT m.id AS message_id, m.body, m.subject, m.channel, m.conversation_id,
               t.id AS ticket_id, t.number AS ticket_number, t.status AS ticket_status,
               t.assignee_id, c.id AS customer_id, c.name AS customer_name,
               ARRAY(
                   SELECT i.sentiment FROM messages i
                   WHERE i.ticket_id = m.ticket_id AND i.direction = 'inbound'
                     AND i.sentiment IS NOT NULL AND i.id <> m.id
                     AND i.created_at <= m.created_at
                   ORDER BY i.created_at
               ) AS earlier_sentiments
        FROM messages m
        JOIN tickets t ON t.id = m.ticket_id
        JOIN customers c ON c.id = t.customer_id
        WHERE m.id = ANY($1::uuid[])
        """,
        message_ids,
    )
    return {row["message_id"]: row for row in rows}


async def load_message_context(
    conn: asyncpg.Connection, message_id: uuid.UUID
) -> asyncpg.Record | None:
    """An inbound message with what the agent needs about its ticket and customer."""
    return (await load_message_contexts(conn, [message_id])).get(message_id)


async def add_outbound_message(
    conn: asyncpg.Connection,
    *,
    conversation_id: uuid.UUID,
    ticket_id: uuid.UUID,
    channel: str,
    author: str,
    body: str,
    delivery_status: str,
    metadata: dict[str, Any] | None = None,
) -> uuid.UUID:
    """Store a reply to the customer (stored as `sent`, it is stamped sent now)."""
    message_id = await conn.fetchval(
        """
        INSERT INTO messages (conversation_id, ticket_id, channel, direction, author, body,
                              delivery_status, metadata, sent_at)
        VALUES ($1, $2, $3, 'outbound', $4, $5, $6, $7::jsonb,
                CASE WHEN $6 = 'sent' THEN now() END)
        RETURNING id
        """,
        conversation_id,
        ticket_id,
        channel,
        author,
        body,
        delivery_status,
        metadata or {},
    )
    return message_id


async def record_agent_outcome(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    *,
    status: str,
    escalation_reason: str | None,
    responded: bool,
    sentiment: tuple[str, str] | None = None,
) -> None:
    """Move the ticket after the agent's decision; the first reply stamps first_response_at.
    `sentiment`: (label, trend) of the customer's latest message, which the ticket carries."""
    await conn.execute(
        """
        UPDATE tickets
        SET status = $2,
            escalation_reason = COALESCE($3, escalation_reason),
            first_response_at = CASE WHEN $4 THEN COALESCE(first_response_at, now())
                                     ELSE first_response_at END,
            sentiment = COALESCE($5, sentiment),
            sentiment_trend = COALESCE($6, sentiment_trend),
            updated_at = now()
        WHERE id = $1
        """,
        ticket_id,
        status,
        escalation_reason,
        responded,
        *(sentiment or (None, None)),
    )


async def record_hand_over(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, reason: str, note: str
) -> None:
    """A person takes the ticket: escalated for `reason`, with a note for them saying why."""
    await conn.execute(
        """
        UPDATE tickets SET status = 'escalated', escalation_reason = $2, handover_note = $3,
                           updated_at = now()
        WHERE id = $1
        """,
        ticket_id,
        reason,
        note[:2000],
    )


async def ticket_of_message(
    conn: asyncpg.Connection, message_id: uuid.UUID
) -> tuple[uuid.UUID, str] | None:
    """(ticket, channel) of a message."""
    row = await conn.fetchrow("SELECT ticket_id, channel FROM messages WHERE id = $1", message_id)
    return (row["ticket_id"], row["channel"]) if row is not None else None


async def customer_history(
    conn: asyncpg.Connection, customer_id: uuid.UUID, before_message: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The customer's latest messages on any ticket, newest first, excluding one message."""
    return await conn.fetch(
        """
        SELECT m.direction, m.author, m.body, m.created_at, t.number
        FROM messages m JOIN tickets t ON t.id = m.ticket_id
        WHERE t.customer_id = $1 AND m.id <> $2
        ORDER BY m.created_at DESC LIMIT $3
        """,
        customer_id,
        before_message,
        limit,
    )


async def set_status_and_priority(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    status: str,
    priority: str,
    actor: str | None = None,
) -> asyncpg.Record | None:
    """A person's change; returns the ticket as it was before, None when there is none.
    Leaving `escalated` clears the escalation reason; `resolved` is `mark_resolved`'s. A new
    priority is the person's (`actor`) from now on: priority rules leave it alone."""
    return await conn.fetchrow(
        """
        WITH before AS (SELECT id, status, priority FROM tickets WHERE id = $1 FOR UPDATE)
        UPDATE tickets t SET status = $2, priority = $3, updated_at = now(),
            escalation_reason = CASE WHEN $2 = 'escalated' THEN t.escalation_reason END,
            priority_set_by = CASE WHEN before.priority <> $3 THEN COALESCE($4, 'person')
                                   ELSE t.priority_set_by END,
            priority_reason = CASE WHEN before.priority <> $3 THEN $3 || ': set by a person'
                                   ELSE t.priority_reason END
        FROM before WHERE t.id = before.id
        RETURNING before.status, before.priority
        """,
        ticket_id,
        status,
        priority,
        actor,
    )


async def assign(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID | None
) -> asyncpg.Record | None:
    """Set the ticket's assignee (None: back to the agent); returns the previous one as
    `assignee_id`, None when there is no such ticket."""
    return await conn.fetchrow(
        """
        WITH before AS (SELECT id, assignee_id FROM tickets WHERE id = $1 FOR UPDATE)
        UPDATE tickets t SET assignee_id = $2, updated_at = now()
        FROM before WHERE t.id = before.id
        RETURNING before.assignee_id
        """,
        ticket_id,
        user_id,
    )


async def mark_resolved(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, solved_by: str = "person"
) -> str | None:
    """Status resolved, resolved_at and who solved it stamped once; the ticket's channel, None
    when there is no such ticket."""
    channel: str | None = await conn.fetchval(
        """
        UPDATE tickets SET status = 'resolved', resolved_at = COALESCE(resolved_at, now()),
                           solved_by = COALESCE(solved_by, $2), updated_at = now()
        WHERE id = $1 RETURNING channel
        """,
        ticket_id,
        solved_by,
    )
    return channel


async def resolve_unanswered(
    conn: asyncpg.Connection, cutoff: datetime, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Resolve up to `limit` tickets waiting for their customer (`pending`) whose last message
    is older than `cutoff`: by the AI when no person wrote on the ticket, else by a person.
    `resolved_at` is when it became due (last message + (now - cutoff)), not when this ran, so
    a backlog resolved late keeps true resolution times. Rows another transaction holds are
    skipped (the next pass takes them); a ticket a reply reopened meanwhile is no longer
    pending, so nothing is resolved twice. Returns id, number, channel, solved_by of each."""
    return await conn.fetch(
        """
        WITH due AS (
            SELECT t.id, COALESCE(last.at, t.updated_at) AS last_at
            FROM tickets t
            CROSS JOIN LATERAL (
                SELECT max(m.created_at) AS at FROM messages m WHERE m.ticket_id = t.id
            ) last
            WHERE t.status = 'pending' AND COALESCE(last.at, t.updated_at) < $1
            LIMIT $3
            FOR UPDATE OF t SKIP LOCKED
        )
        UPDATE tickets t
        SET status = 'resolved', resolved_at = LEAST($2, due.last_at + ($2 - $1)),
            updated_at = $2,
            solved_by = CASE WHEN EXISTS (SELECT 1 FROM messages m
                                          WHERE m.ticket_id = t.id AND m.author = 'human')
                             THEN 'person' ELSE 'ai' END
        FROM due WHERE t.id = due.id AND t.status = 'pending'
        RETURNING t.id, t.number, t.channel, t.solved_by
        """,
        cutoff,
        now,
        limit,
    )


async def reply_route(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    """How a customer's reply from the ticket's page reaches the ticket through intake: one of
    the customer's identities on the ticket's channel and the conversation's thread key (given
    one now, `<channel>:<conversation id>`, when the conversation had none). None when there is
    no such ticket or its customer has no identity on that channel any more."""
    return await conn.fetchrow(
        """
        WITH ticket AS (
            SELECT t.customer_id, t.channel, t.conversation_id FROM tickets t WHERE t.id = $1
        ), keyed AS (
            UPDATE conversations c
            SET external_thread_id = c.channel || ':' || c.id::text
            FROM ticket
            WHERE c.id = ticket.conversation_id AND c.external_thread_id IS NULL
            RETURNING c.external_thread_id
        )
        SELECT i.kind, i.value,
               -- The key is a function of the conversation, so a concurrent reply that keyed
               -- it after this statement's snapshot agrees with the one computed here.
               COALESCE((SELECT external_thread_id FROM keyed),
                        (SELECT COALESCE(c.external_thread_id, c.channel || ':' || c.id::text)
                         FROM conversations c WHERE c.id = ticket.conversation_id)) AS thread_key
        FROM ticket JOIN customer_identities i
          ON i.customer_id = ticket.customer_id AND i.kind = ticket.channel
        ORDER BY i.created_at LIMIT 1
        """,
        ticket_id,
    )


async def save_rating(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, score: int, comment: str | None
) -> None:
    """The customer's rating of the ticket; a second one replaces the first."""
    await conn.execute(
        """
        INSERT INTO ticket_ratings (ticket_id, score, comment) VALUES ($1, $2, $3)
        ON CONFLICT (ticket_id) DO UPDATE
        SET score = EXCLUDED.score, comment = EXCLUDED.comment, updated_at = now()
        """,
        ticket_id,
        score,
        comment,
    )


async def get_rating(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> asyncpg.Record | None:
    """The customer's rating of the ticket, None before they rate it."""
    return await conn.fetchrow(
        "SELECT score, comment FROM ticket_ratings WHERE ticket_id = $1", ticket_id
    )
