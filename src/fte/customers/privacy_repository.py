"""SQL for a customer's data as a whole: everything we hold on them (export) and erasing
what identifies them (forget). `ids` are the customer and every record merged into them."""

from __future__ import annotations

import uuid
from typing import Final

import asyncpg

ERASED: Final = "[erased]"


async def family(conn: asyncpg.Connection, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer and the customers merged into them (at any depth)."""
    return [
        r["id"]
        for r in await conn.fetch(
            """
            WITH RECURSIVE merged AS (
                SELECT id FROM customers WHERE id = $1
                UNION
                SELECT c.id FROM customers c JOIN merged m ON c.merged_into = m.id
            )
            SELECT id FROM merged
            """,
            customer_id,
        )
    ]


async def lock(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The customers' rows, locked until the transaction ends (a merge waits)."""
    return await conn.fetch(
        "SELECT * FROM customers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE", ids
    )


# Each section of the export: one query over the family's ids. Embeddings are left out: they
# are derived numbers, not data about the person a reader could use.
_EXPORT: Final[dict[str, str]] = {
    "customers": "SELECT * FROM customers WHERE id = ANY($1::uuid[]) ORDER BY created_at",
    "identities": (
        "SELECT kind, value, created_at FROM customer_identities "
        "WHERE customer_id = ANY($1::uuid[]) ORDER BY created_at"
    ),
    "link_suggestions": (
        "SELECT customer_id, owner_id, kind, value, status, created_at, resolved_at "
        "FROM customer_link_suggestions "
        "WHERE customer_id = ANY($1::uuid[]) OR owner_id = ANY($1::uuid[]) ORDER BY created_at"
    ),
    "conversations": (
        "SELECT * FROM conversations WHERE customer_id = ANY($1::uuid[]) ORDER BY started_at"
    ),
    "tickets": "SELECT * FROM tickets WHERE customer_id = ANY($1::uuid[]) ORDER BY created_at",
    "messages": (
        "SELECT m.* FROM messages m JOIN tickets t ON t.id = m.ticket_id "
        "WHERE t.customer_id = ANY($1::uuid[]) ORDER BY m.created_at, m.id"
    ),
    "agent_runs": (
        "SELECT r.id, r.message_id, r.ticket_id, r.decision, r.reason, r.confidence, r.sources, "
        "r.draft, r.summary, r.sentiment, r.model, r.created_at "
        "FROM agent_runs r JOIN tickets t ON t.id = r.ticket_id "
        "WHERE t.customer_id = ANY($1::uuid[]) ORDER BY r.created_at"
    ),
    "internal_notes": (
        "SELECT n.* FROM ticket_notes n JOIN tickets t ON t.id = n.ticket_id "
        "WHERE t.customer_id = ANY($1::uuid[]) ORDER BY n.created_at, n.id"
    ),
    "ratings": (
        "SELECT r.* FROM ticket_ratings r JOIN tickets t ON t.id = r.ticket_id "
        "WHERE t.customer_id = ANY($1::uuid[]) ORDER BY r.created_at"
    ),
    "orders": (
        "SELECT order_id, customer_id, amount, currency, ordered_at, plan, status, source, "
        "created_at, updated_at FROM orders WHERE customer_id = ANY($1::uuid[]) "
        "ORDER BY ordered_at"
    ),
    "profile_rows": "SELECT * FROM customer_profiles WHERE customer_id = ANY($1::uuid[])",
    # About them: on their tickets, or naming one of their ids (a merge, an erasure).
    "audit": (
        "SELECT a.id, a.at, a.actor, a.action, a.ticket_id, a.detail FROM audit_log a "
        "WHERE a.ticket_id IN (SELECT id FROM tickets WHERE customer_id = ANY($1::uuid[])) "
        "OR EXISTS (SELECT 1 FROM unnest($1::uuid[]) AS i(id) "
        "           WHERE a.detail::text LIKE '%' || i.id::text || '%') "
        "ORDER BY a.at, a.id"
    ),
}


async def export_sections(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[str, list[asyncpg.Record]]:
    """Every row we hold on these customers, by section."""
    return {name: await conn.fetch(sql, ids) for name, sql in _EXPORT.items()}


# Erasing: what identifies the person goes; the ids, times, statuses, amounts and counts stay.
_FORGET: Final[dict[str, str]] = {
    "customers": (
        "UPDATE customers SET name = NULL, email = NULL, phone = NULL, external_id = NULL, "
        "erased_at = COALESCE(erased_at, now()), updated_at = now() "
        "WHERE id = ANY($1::uuid[]) AND (name IS NOT NULL OR email IS NOT NULL "
        "OR phone IS NOT NULL OR external_id IS NOT NULL OR erased_at IS NULL)"
    ),
    "identities": "DELETE FROM customer_identities WHERE customer_id = ANY($1::uuid[])",
    "link_suggestions": (
        "DELETE FROM customer_link_suggestions "
        "WHERE customer_id = ANY($1::uuid[]) OR owner_id = ANY($1::uuid[])"
    ),
    "conversations": (
        "UPDATE conversations SET external_thread_id = NULL "
        "WHERE customer_id = ANY($1::uuid[]) AND external_thread_id IS NOT NULL"
    ),
    "tickets": (
        "UPDATE tickets SET subject = CASE WHEN subject IS NULL THEN NULL ELSE $2 END, "
        "handover_note = CASE WHEN handover_note IS NULL THEN NULL ELSE $2 END "
        "WHERE customer_id = ANY($1::uuid[]) "
        "AND (subject IS DISTINCT FROM $2 AND subject IS NOT NULL "
        "     OR handover_note IS DISTINCT FROM $2 AND handover_note IS NOT NULL)"
    ),
    "messages": (
        "UPDATE messages m SET body = $2, "
        "subject = CASE WHEN m.subject IS NULL THEN NULL ELSE $2 END, "
        "metadata = '{}'::jsonb, delivery_error = NULL "
        "FROM tickets t WHERE t.id = m.ticket_id AND t.customer_id = ANY($1::uuid[]) "
        "AND (m.body <> $2 OR m.metadata <> '{}'::jsonb OR m.delivery_error IS NOT NULL "
        "     OR m.subject IS DISTINCT FROM $2 AND m.subject IS NOT NULL)"
    ),
    "agent_runs": (
        "UPDATE agent_runs r SET draft = CASE WHEN r.draft IS NULL THEN NULL ELSE $2 END, "
        "summary = CASE WHEN r.summary IS NULL THEN NULL ELSE $2 END, query_embedding = NULL "
        "FROM tickets t WHERE t.id = r.ticket_id AND t.customer_id = ANY($1::uuid[]) "
        "AND (r.draft IS DISTINCT FROM $2 AND r.draft IS NOT NULL "
        "     OR r.summary IS DISTINCT FROM $2 AND r.summary IS NOT NULL "
        "     OR r.query_embedding IS NOT NULL)"
    ),
    "internal_notes": (
        "UPDATE ticket_notes n SET body = $2 FROM tickets t "
        "WHERE t.id = n.ticket_id AND t.customer_id = ANY($1::uuid[]) AND n.body <> $2"
    ),
    "ratings": (
        "UPDATE ticket_ratings r SET comment = NULL FROM tickets t "
        "WHERE t.id = r.ticket_id AND t.customer_id = ANY($1::uuid[]) AND r.comment IS NOT NULL"
    ),
}

_ERASED_ARG: Final = {"tickets", "messages", "agent_runs", "internal_notes"}


async def forget(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> dict[str, int]:
    """Erase what identifies these customers; rows changed per table (all 0 when done already)."""
    changed = {}
    for table, sql in _FORGET.items():
        args = (ids, ERASED) if table in _ERASED_ARG else (ids,)
        status: str = await conn.execute(sql, *args)
        changed[table] = int(status.split()[-1])
    return changed


async def counts(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> asyncpg.Record:
    """What stays after erasing: how many tickets, messages and orders, and the orders' sum."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM tickets WHERE customer_id = ANY($1::uuid[])) AS tickets,
               (SELECT count(*) FROM messages m JOIN tickets t ON t.id = m.ticket_id
                 WHERE t.customer_id = ANY($1::uuid[])) AS messages,
               (SELECT count(*) FROM orders WHERE customer_id = ANY($1::uuid[])) AS orders,
               (SELECT coalesce(sum(amount), 0) FROM orders
                 WHERE customer_id = ANY($1::uuid[])) AS order_total
        """,
        ids,
    )
    return row
