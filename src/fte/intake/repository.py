"""SQL that files an inbound message, in one statement: atomic on its own, one round trip."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Final

import asyncpg

from fte.customers.identities import normalise
from fte.kit import logging as trace
from fte.messaging import InboundMessage

# How long after a ticket was solved a reply on its conversation reopens it; later, the reply
# opens a new ticket (a new question weeks later is not the old one coming back).
REOPEN_WITHIN: Final = timedelta(days=7)

# The customer known by the identity (created on first contact: the identity row and the
# customer row go in together or not at all), the conversation (reused by thread key), the
# open ticket in it (or a new one), the message, and the outbox row the workers pick up
# (processed already for a message the agent stays out of). pg_notify wakes idle workers when
# the statement's transaction commits, never before.
# The open ticket is looked up by the conversation's id as a parameter, not joined to `conv`:
# the connection keeps the plan it made on its sixth run, and made on nearly empty tables the
# join read every open ticket (tickets_status_idx) and filtered by conversation, a cost that
# grew with the open tickets (intake took 0.6 ms of the server's CPU on an empty table and 1.3
# ms after 3,600 tickets). By parameter it is an index scan of tickets_conversation_idx at
# any size.
# When a concurrent first contact claims the identity first, ON CONFLICT leaves `ident` empty
# and the statement writes nothing and returns no row: the caller runs it again, and then
# finds the customer the other request committed.
_FILE_MESSAGE = """
WITH existing AS (
    SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2
), ident AS (
    INSERT INTO customer_identities (customer_id, kind, value)
    SELECT $3::uuid, $1, $2 WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (kind, value) DO NOTHING
    RETURNING customer_id
), created_customer AS (
    INSERT INTO customers (id, name, email, phone)
    SELECT customer_id, $4, $5, $6 FROM ident
    RETURNING id
), customer AS (
    SELECT customer_id AS id FROM existing UNION ALL SELECT id FROM created_customer
), conv AS (
    INSERT INTO conversations (customer_id, channel, external_thread_id)
    SELECT customer.id, $7, $8 FROM customer
    ON CONFLICT (channel, external_thread_id)
        WHERE external_thread_id IS NOT NULL AND status = 'open'
    DO UPDATE SET last_message_at = now()
    RETURNING id
), reopened AS (
    -- A reply on a ticket waiting for the customer, or solved within $19 seconds, reopens it
    -- (no longer solved: resolved_at and solved_by cleared); an escalated ticket stays with
    -- its person. A closed ticket, or one solved longer ago, gets a new ticket instead.
    UPDATE tickets t
    SET status = CASE WHEN t.status IN ('pending', 'resolved') THEN 'open' ELSE t.status END,
        resolved_at = CASE WHEN t.status = 'resolved' THEN NULL ELSE t.resolved_at END,
        solved_by = CASE WHEN t.status = 'resolved' THEN NULL ELSE t.solved_by END,
        updated_at = now(),
        -- The message's words, which messages_search (0021) would otherwise add in a second
        -- write of the row; it finds them here and writes nothing.
        search_words = CASE WHEN length(t.search_words) < 8000
                            THEN t.search_words || ticket_search_words($9, $13)
                            ELSE t.search_words END
    WHERE t.id = (
        SELECT o.id FROM tickets o
        WHERE o.conversation_id = (SELECT id FROM conv)
          AND (o.status IN ('open', 'pending', 'escalated')
               OR (o.status = 'resolved'
                   AND o.resolved_at > now() - make_interval(secs => $19::float8)))
        ORDER BY o.created_at DESC LIMIT 1
    )
    RETURNING t.id, t.number
), created AS (
    INSERT INTO tickets (customer_id, conversation_id, channel, subject, category, priority,
                         search_words)
    SELECT customer.id, conv.id, $7, $9, $10, $11, ticket_search_words($9, $13)
    FROM customer, conv
    WHERE NOT EXISTS (SELECT 1 FROM reopened)
    RETURNING id, number
), ticket AS (
    SELECT id, number FROM reopened UNION ALL SELECT id, number FROM created
), msg AS (
    INSERT INTO messages (conversation_id, ticket_id, channel, direction, author, external_id,
                          subject, body, metadata)
    SELECT conv.id, ticket.id, $7, 'inbound', 'customer', $12, $9, $13, $14::jsonb
    FROM conv, ticket
    RETURNING id
), claimed AS (
    -- An address the sender typed (the web form's email) that a proven customer owns: offered
    -- to an operator, never linked.
    INSERT INTO customer_link_suggestions (customer_id, owner_id, kind, value, message_id)
    SELECT customer.id, o.customer_id, o.kind, o.value, msg.id
    FROM customer, msg, unnest($17::text[], $18::text[]) AS c(kind, value)
    JOIN customer_identities o ON o.kind = c.kind AND o.value = c.value
    WHERE o.customer_id <> customer.id
    ON CONFLICT DO NOTHING
), queued AS (
    INSERT INTO outbox (topic, key, payload, processed_at)
    SELECT 'inbound', conv.id::text,
           jsonb_build_object('message_id', msg.id, 'ticket_id', ticket.id) || $15::jsonb,
           CASE WHEN $16 THEN now() END
    FROM conv, ticket, msg
    RETURNING id
)
SELECT conv.id AS conversation_id, ticket.id AS ticket_id, ticket.number AS ticket_number,
       msg.id AS message_id, customer.id AS customer_id, pg_notify('fte_outbox', 'inbound'),
       EXISTS (SELECT 1 FROM created) AS new_ticket
FROM customer, conv, ticket, msg, queued
"""


async def file_message(conn: asyncpg.Connection, msg: InboundMessage) -> asyncpg.Record | None:
    """Customer, conversation, ticket, message and outbox row for one inbound message (see
    above; `new_ticket` says whether the ticket was opened by it). None when a concurrent first
    contact of the same customer won the race: nothing was written. The outbox row carries the
    request id, so the worker's log lines name the same request."""
    identity = normalise(msg.identity)
    # The customer's contact columns: the proven identity, else what the sender stated (shown
    # to staff; never used to find the customer).
    contact = {i.kind: i.value for i in (*reversed(msg.claimed), identity)}
    return await conn.fetchrow(
        _FILE_MESSAGE,
        identity.kind,
        identity.value,
        uuid.uuid4(),
        msg.customer_name,
        contact.get("email"),
        contact.get("phone"),
        msg.channel,
        msg.thread_key,
        msg.subject,
        msg.category,
        msg.priority,
        msg.external_id,
        msg.body,
        msg.metadata,
        trace.carried(),
        msg.silent,
        [i.kind for i in msg.claimed],
        [i.value for i in msg.claimed],
        REOPEN_WITHIN.total_seconds(),
    )
