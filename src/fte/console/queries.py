"""What the console reads (the console's repository): the inbox, the dashboard's figures and
the questions behind the knowledge gaps. A ticket's customer is `console.customers.panel`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import asyncpg

from fte.config import Priority
from fte.tickets import repository as tickets

STATUSES = ("open", "pending", "escalated", "resolved", "closed")
# The inbox's filter for tickets whose agent draft waits for a person's approval.
APPROVAL = "approval"
# A draft of approval mode no person has sent or rejected yet (partial index
# agent_runs_awaiting_idx: a probe per listed ticket).
AWAITING_APPROVAL = """EXISTS (
    SELECT 1 FROM agent_runs r
    WHERE r.ticket_id = t.id AND r.decision = 'draft' AND r.draft IS NOT NULL
      AND r.reply_message_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM draft_rejections d WHERE d.run_id = r.id))"""
ASSIGNEES = ("me", "nobody")
PRIORITY_ORDER = (
    "CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
)


async def inbox(
    conn: asyncpg.Connection,
    status: str | None,
    text: str | None,
    sla_minutes: Mapping[Priority, int],
    limit: int = 100,
    assignee: uuid.UUID | None = None,
    unassigned: bool = False,
    awaiting_approval: bool = False,
) -> list[asyncpg.Record]:
    """Tickets needing people first: escalated or waiting for approval, then past their SLA,
    then by priority, then the longest waiting. Without a status, resolved and closed tickets
    are left out; `awaiting_approval` keeps only the drafts waiting for a person.

    A ticket is due for a first response `sla_minutes[priority]` after it was opened, until
    someone has responded (the agent's answer counts; its holding reply on an escalation
    does not) or it is resolved or closed.

    The tickets are picked from their sort keys alone, read from `tickets_inbox_idx` (the
    unfinished tickets' keys, an index-only scan), and only the page's rows are joined to
    their subject, customer and assignee: at 1,000,000 tickets the sort no longer reads a
    heap page per unfinished ticket (160 -> 85 ms under load).

    `text` finds the tickets whose subject or messages hold every word of it, or whose number
    it is (`tickets.search_condition`), looked up in the unfinished tickets' word index: at
    1,000,000 tickets a search no longer reads the messages of each of 60,000 unfinished
    tickets (2.3 s p95). With a search the statement's text differs, so neither statement's
    cached plan has to serve both."""
    searched = f"AND {tickets.search_condition('$7', '$8')}" if text else ""
    due = """CASE WHEN t.first_response_at IS NULL AND t.status NOT IN ('resolved', 'closed')
                  THEN t.created_at + make_interval(mins => ($3::jsonb ->> t.priority)::int)
             END"""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        WITH picked AS (
            SELECT t.id, t.status, t.created_at, {due} AS due_at, {PRIORITY_ORDER} AS priority_rank,
                   {AWAITING_APPROVAL} AS awaiting_approval
            FROM tickets t
            WHERE ($4::uuid IS NULL OR t.assignee_id = $4)
              AND (NOT $6 OR {AWAITING_APPROVAL})
              AND (NOT $5 OR t.assignee_id IS NULL)
              AND ($1::text IS NULL OR t.status = $1)
              AND ($1::text IS NOT NULL OR t.status NOT IN ('resolved', 'closed'))
              {searched}
            ORDER BY (t.status = 'escalated' OR {AWAITING_APPROVAL}) DESC,
                     ({due} < now()) IS TRUE DESC, {PRIORITY_ORDER}, t.created_at
            LIMIT $2
        )
        SELECT t.id, t.number, t.status, t.priority, t.priority_reason, t.channel, t.subject,
               t.escalation_reason, t.sentiment, t.created_at, c.name AS customer_name,
               u.name AS assignee_name, p.due_at, p.priority_rank, p.awaiting_approval,
               extract(epoch FROM now() - t.created_at) AS waited_seconds,
               extract(epoch FROM p.due_at - now()) AS due_in_seconds
        FROM picked p JOIN tickets t ON t.id = p.id
        JOIN customers c ON c.id = t.customer_id
        LEFT JOIN users u ON u.id = t.assignee_id
        ORDER BY (p.status = 'escalated' OR p.awaiting_approval) DESC,
                 (p.due_at < now()) IS TRUE DESC, p.priority_rank, p.created_at
        """,
        status,
        limit,
        sla_minutes,
        assignee,
        unassigned,
        awaiting_approval,
        *((text, tickets.search_number(text)) if text else ()),
    )
    return rows


async def user_name(conn: asyncpg.Connection, user_id: object) -> str | None:
    name: str | None = await conn.fetchval("SELECT name FROM users WHERE id = $1", user_id)
    return name


async def teammates(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Everyone a ticket can be assigned to: id and name, by name."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name FROM users ORDER BY lower(name), id"
    )
    return rows


async def ticket_version(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> str | None:
    """A fingerprint of what the ticket page shows (status, assignee, messages and their
    delivery, agent runs, notes, rejections): the page compares it to know when to refresh.
    None when there is no such ticket."""
    version: str | None = await conn.fetchval(
        """
        SELECT concat_ws('|', t.status, t.priority, t.assignee_id, t.updated_at,
            (SELECT concat(count(*), ':', max(m.created_at), ':',
                           string_agg(COALESCE(m.delivery_status, ''), ''))
             FROM messages m WHERE m.ticket_id = t.id),
            (SELECT concat(count(*), ':', max(r.created_at), ':', count(r.reply_message_id))
             FROM agent_runs r WHERE r.ticket_id = t.id),
            (SELECT count(*) FROM ticket_notes n WHERE n.ticket_id = t.id),
            (SELECT count(*) FROM draft_rejections d WHERE d.ticket_id = t.id))
        FROM tickets t WHERE t.id = $1
        """,
        ticket_id,
    )
    return version


# The dashboard's figures. Each takes the pool: the page's queries are independent, and each on
# a connection of its own (Pool.fetch acquires one per call) lets PostgreSQL run them on all
# cores at once.


async def low_confidence_questions(
    conn: asyncpg.Connection, since: datetime, limit: int
) -> list[asyncpg.Record]:
    """The newest questions escalated for low confidence since `since` that have their
    embedding: the message, its ticket's number, when, and the embedding as reals."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT m.body, t.number, r.created_at, r.query_embedding::real[] AS embedding
        FROM agent_runs r
        JOIN messages m ON m.id = r.message_id
        JOIN tickets t ON t.id = r.ticket_id
        WHERE r.decision = 'escalate' AND r.reason = 'low_confidence' AND r.created_at >= $1
          AND r.query_embedding IS NOT NULL
        ORDER BY r.created_at DESC LIMIT $2
        """,
        since,
        limit,
    )
    return rows
