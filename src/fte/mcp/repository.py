"""What the MCP tools read that no domain repository has yet: searches across customers and
tickets, a ticket by its number, and an API key's scopes."""

from __future__ import annotations

import uuid

import asyncpg

from fte.tickets import repository as tickets


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def search_customers(
    conn: asyncpg.Connection,
    text: str | None,
    ltv_min: float | None,
    churn_risk_min: float | None,
    segment: str | None,
    limit: int,
) -> list[uuid.UUID]:
    """Ids of live (not merged, not erased) customers matching every filter given, the most
    valuable first. `text` matches a name, email, phone or external id, in part."""
    return [
        r["id"]
        for r in await conn.fetch(
            """
            SELECT c.id FROM customers c
              LEFT JOIN customer_profiles p ON p.customer_id = c.id
             WHERE c.merged_into IS NULL AND c.erased_at IS NULL
               AND ($1::text IS NULL
                    OR c.name ILIKE $1 OR c.email ILIKE $1 OR c.phone ILIKE $1
                    OR c.external_id ILIKE $1
                    OR EXISTS (SELECT 1 FROM customer_identities i
                                WHERE i.customer_id = c.id AND i.value ILIKE $1))
               AND ($2::numeric IS NULL OR p.lifetime_value >= $2)
               AND ($3::real IS NULL OR p.churn_risk >= $3)
               AND ($4::text IS NULL OR p.segment = $4)
             ORDER BY p.lifetime_value DESC NULLS LAST, c.created_at DESC
             LIMIT $5
            """,
            _like(text) if text else None,
            ltv_min,
            churn_risk_min,
            segment,
            limit,
        )
    ]


async def search_tickets(
    conn: asyncpg.Connection, text: str | None, status: str | None, limit: int
) -> list[asyncpg.Record]:
    """Tickets, newest first, whose subject or messages hold every word of `text` (or whose
    number it is: `tickets.search_condition`), in `status` when given."""
    searched = f"AND {tickets.search_condition('$3', '$4')}" if text else ""
    return await conn.fetch(
        f"""
        SELECT t.id, t.number, t.subject, t.status, t.priority, t.priority_reason, t.channel,
               t.escalation_reason, t.created_at, t.updated_at, t.customer_id,
               c.name AS customer_name
          FROM tickets t JOIN customers c ON c.id = t.customer_id
         WHERE ($1::text IS NULL OR t.status = $1) {searched}
         ORDER BY t.created_at DESC
         LIMIT $2
        """,
        status,
        limit,
        *((text, tickets.search_number(text)) if text else ()),
    )


async def ticket_id_by_number(conn: asyncpg.Connection, number: int) -> uuid.UUID | None:
    """The id of the ticket with that number."""
    ticket_id: uuid.UUID | None = await conn.fetchval(
        "SELECT id FROM tickets WHERE number = $1", number
    )
    return ticket_id
