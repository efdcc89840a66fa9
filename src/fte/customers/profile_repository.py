"""SQL for a customer's profile: who they are (by any key they are known by), what they
bought, what the model predicts, and how their support has gone."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

# The customer a key names ($1: our id or NULL, $2: the key as given): our id, an email, a
# phone number or the company's external id, in that order; a merged customer is the one kept.
_WHO = """
    WITH hit AS (
        SELECT id FROM customers WHERE id = $1
        UNION ALL
        SELECT customer_id FROM customer_identities
         WHERE (kind = 'email' AND value = lower($2)) OR (kind = 'phone' AND value = $2)
        UNION ALL
        SELECT id FROM customers WHERE external_id = $2
        LIMIT 1
    ), who AS (
        SELECT coalesce(c.merged_into, c.id) AS id FROM hit JOIN customers c ON c.id = hit.id
    )
"""
_CUSTOMER = """
    c.id, c.name, c.email, c.phone, c.external_id, c.plan, c.created_at, c.erased_at,
    c.merged_into
"""
# How support has gone for customer `c` in 90 days: tickets, escalations, the sentiment of
# their messages early and late in that window, tickets opened within 7 days of another.
_SIGNALS = """
    LEFT JOIN LATERAL (
        SELECT count(*) AS tickets_90d,
               count(*) FILTER (WHERE r.escalation_reason IS NOT NULL) AS escalations_90d,
               count(*) FILTER (WHERE r.previous_at > r.created_at - interval '7 days')
                   AS repeat_contacts_90d
          FROM (SELECT created_at, escalation_reason,
                       lag(created_at) OVER (ORDER BY created_at) AS previous_at
                  FROM tickets
                 WHERE customer_id = c.id AND created_at > now() - interval '90 days') r
    ) recent ON true
    LEFT JOIN LATERAL (
        SELECT max(created_at) AS last_contact_at FROM tickets WHERE customer_id = c.id
    ) contact ON true
    LEFT JOIN LATERAL (
        SELECT avg(score) FILTER (WHERE half = 1) AS sentiment_early,
               avg(score) FILTER (WHERE half = 2) AS sentiment_late
          FROM (SELECT m.sentiment_score AS score, ntile(2) OVER (ORDER BY m.created_at) AS half
                  FROM messages m JOIN tickets t ON t.id = m.ticket_id
                 WHERE t.customer_id = c.id AND m.author = 'customer'
                   AND m.sentiment_score IS NOT NULL
                   AND m.created_at > now() - interval '90 days') s
    ) mood ON true
"""


def _key_args(key: str) -> tuple[uuid.UUID | None, str]:
    try:
        return uuid.UUID(key), key.strip()
    except ValueError:
        return None, key.strip()


async def customer_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The customer known by `key`: our id (a UUID), an email, a phone number or the
    company's external id, in that order; a merged customer resolves to the one kept."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"{_WHO} SELECT {_CUSTOMER} FROM who JOIN customers c ON c.id = who.id", *_key_args(key)
    )
    return row


async def profile_by_key(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """In one statement (a lookup is the API's hot path): the customer known by `key`, their
    scored profile (`scored_at` NULL before their first order is scored) and their support
    signals in 90 days."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""
        {_WHO}
        SELECT {_CUSTOMER}, p.orders, p.lifetime_value, p.avg_order_value, p.currency,
               p.first_order_at, p.last_order_at, p.p_alive, p.expected_purchases_90d,
               p.expected_value_90d, p.churn_risk, p.churn_factors, p.segment,
               p.value_percentile, p.scored_at, recent.tickets_90d, recent.escalations_90d,
               recent.repeat_contacts_90d, contact.last_contact_at, mood.sentiment_early,
               mood.sentiment_late
          FROM who JOIN customers c ON c.id = who.id
          LEFT JOIN customer_profiles p ON p.customer_id = c.id
          {_SIGNALS}
        """,
        *_key_args(key),
    )
    return row


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
