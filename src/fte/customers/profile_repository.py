"""SQL for a customer's profile: who they are (by any key they are known by), what they
bought, what the model predicts, and how their support has gone."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


async def customer_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The customer known by `key`: our id (a UUID), an email, a phone number or the
    company's external id, in that order; a merged customer resolves to the one kept."""
    try:
        by_id: uuid.UUID | None = uuid.UUID(key)
    except ValueError:
        by_id = None
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        WITH hit AS (
            SELECT id FROM customers WHERE id = $1
            UNION ALL
            SELECT customer_id FROM customer_identities
             WHERE (kind = 'email' AND value = lower($2)) OR (kind = 'phone' AND value = $2)
            UNION ALL
            SELECT id FROM customers WHERE external_id = $2
            LIMIT 1
        )
        SELECT c.id, c.name, c.email, c.phone, c.external_id, c.plan, c.created_at,
               c.erased_at, c.merged_into
          FROM hit JOIN customers c ON c.id = hit.id
        """,
        by_id,
        key.strip(),
    )
    if row is not None and row["merged_into"] is not None:
        return await customer_by_key(conn, str(row["merged_into"]))
    return row


async def profile(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record | None:
    """The scored profile (None before the customer's first order is scored)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM customer_profiles WHERE customer_id = $1", customer_id
    )
    return row


async def support_signals(conn: asyncpg.Connection, customer_id: uuid.UUID) -> dict[str, Any]:
    """How support has gone for them in 90 days: tickets, escalations, the sentiment of their
    messages early and late in that window, and tickets opened within 7 days of another."""
    row = await conn.fetchrow(
        """
        WITH recent AS (
            SELECT id, created_at, status, escalation_reason,
                   lag(created_at) OVER (ORDER BY created_at) AS previous_at
              FROM tickets
             WHERE customer_id = $1 AND created_at > now() - interval '90 days'
        ), scores AS (
            SELECT m.sentiment_score AS score,
                   ntile(2) OVER (ORDER BY m.created_at) AS half
              FROM messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE t.customer_id = $1 AND m.author = 'customer'
               AND m.sentiment_score IS NOT NULL
               AND m.created_at > now() - interval '90 days'
        )
        SELECT (SELECT count(*) FROM recent) AS tickets_90d,
               (SELECT count(*) FROM recent WHERE escalation_reason IS NOT NULL)
                   AS escalations_90d,
               (SELECT count(*) FROM recent WHERE previous_at > created_at - interval '7 days')
                   AS repeat_contacts_90d,
               (SELECT max(created_at) FROM tickets WHERE customer_id = $1) AS last_contact_at,
               (SELECT avg(score) FROM scores WHERE half = 1) AS sentiment_early,
               (SELECT avg(score) FROM scores WHERE half = 2) AS sentiment_late
        """,
        customer_id,
    )
    return dict(row) if row is not None else {}


async def recent_tickets(
    conn: asyncpg.Connection, customer_id: uuid.UUID, limit: int = 20
) -> list[asyncpg.Record]:
    """Their latest tickets, newest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT id, number, subject, status, priority, channel, escalation_reason, created_at
          FROM tickets WHERE customer_id = $1 ORDER BY created_at DESC LIMIT $2
        """,
        customer_id,
        limit,
    )
    return rows


_PROFILE_COLUMNS = (
    "orders, lifetime_value, avg_order_value, currency, first_order_at, last_order_at, p_alive, "
    "expected_purchases_90d, expected_value_90d, churn_risk, churn_factors, segment, "
    "value_percentile, model_id, scored_at"
)


async def save_profile(
    conn: asyncpg.Connection, customer_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Write one customer's scored profile (every column of `customer_profiles` by name),
    replacing the one before."""
    columns = _PROFILE_COLUMNS.split(", ")
    params = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    await conn.execute(
        f"INSERT INTO customer_profiles (customer_id, {_PROFILE_COLUMNS}) VALUES ($1, {params}) "
        f"ON CONFLICT (customer_id) DO UPDATE SET {updates}",
        customer_id,
        *(values[c] for c in columns),
    )


async def set_plan(conn: asyncpg.Connection, customer_id: uuid.UUID, plan: str | None) -> None:
    """The plan the customer is on (from their latest order, or the sales system)."""
    await conn.execute("UPDATE customers SET plan = $2 WHERE id = $1", customer_id, plan)
