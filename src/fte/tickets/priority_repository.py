"""SQL for priority rules: the rules themselves, the customer facts they read, and raising a
ticket's priority (never lowering it, never over a person's choice)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

# low < medium < high < urgent, as PostgreSQL compares them.
_RANK = "array_position(ARRAY['low', 'medium', 'high', 'urgent'], {})"


def raise_sql(current: str, proposed: str) -> str:
    """A condition true when `proposed` (a SQL text expression, maybe NULL) is above
    `current`: for the statements that raise a priority as part of a larger update."""
    return f"COALESCE({_RANK.format(proposed)} > {_RANK.format(current)}, false)"


async def facts_and_rules(conn: asyncpg.Connection, customer_id: uuid.UUID) -> asyncpg.Record:
    """In one round trip: the customer's profile facts (primary-key lookups; NULL where they
    have no scored profile) and the rules in order, as JSON."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT p.value_percentile, p.churn_risk, p.lifetime_value, p.orders, p.segment,
               c.plan,
               (SELECT COALESCE(jsonb_agg(jsonb_build_object(
                           'priority', r.priority, 'reason', r.reason,
                           'conditions', r.conditions) ORDER BY r.position, r.id), '[]')
                  FROM priority_rules r) AS rules
          FROM (SELECT $1::uuid AS id) AS k
          LEFT JOIN customers c ON c.id = k.id
          LEFT JOIN customer_profiles p ON p.customer_id = k.id
        """,
        customer_id,
    )
    return row


async def raise_priority(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, priority: str, reason: str
) -> bool:
    """Raise the ticket to `priority` for `reason` unless it is there already or a person
    chose its priority; whether it was raised."""
    raised: bool = await conn.fetchval(
        f"""
        WITH raised AS (
            UPDATE tickets SET priority = $2, priority_reason = $3, updated_at = now()
            WHERE id = $1 AND priority_set_by IS NULL AND {raise_sql("priority", "$2::text")}
            RETURNING 1
        )
        SELECT EXISTS (SELECT FROM raised)
        """,
        ticket_id,
        priority,
        reason,
    )
    return raised


async def list_rules(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The rules in the order they are read: id, position, priority, reason, conditions."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, position, priority, reason, conditions FROM priority_rules "
        "ORDER BY position, id"
    )
    return rows


async def add_rule(
    conn: asyncpg.Connection, priority: str, reason: str, conditions: dict[str, Any]
) -> int:
    """A new rule, read after the existing ones; its id."""
    rule_id: int = await conn.fetchval(
        """
        INSERT INTO priority_rules (position, priority, reason, conditions)
        SELECT COALESCE(max(position), 0) + 1, $1, $2, $3::jsonb FROM priority_rules
        RETURNING id
        """,
        priority,
        reason,
        conditions,
    )
    return rule_id


async def remove_rule(conn: asyncpg.Connection, rule_id: int) -> bool:
    """Delete one rule; False when there was none with that id."""
    deleted: str = await conn.execute("DELETE FROM priority_rules WHERE id = $1", rule_id)
    return deleted != "DELETE 0"
