"""Rows the MCP tests read: a customer with a scored profile and a ticket, a knowledge-base
article, and API keys with given scopes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from mcp_types import CallToolResult, TextContent

from fte.auth import service as auth
from fte.db import transaction
from tests import factories

TOOLS = {
    "get_customer",
    "search_customers",
    "get_ticket",
    "search_tickets",
    "search_knowledge_base",
    "add_internal_note",
}


@dataclass(frozen=True)
class Seeded:
    customer_id: str
    ticket_number: int
    ticket_id: str


async def seed(pool: asyncpg.Pool) -> Seeded:
    """Ana, a valuable customer at risk, who asked about a refund."""
    filed = await factories.ticket(
        pool, "My refund for the blue kettle has not arrived", email="ana@example.com"
    )
    async with transaction(pool) as conn:
        await conn.execute(
            """
            INSERT INTO customer_profiles (customer_id, orders, lifetime_value, avg_order_value,
                currency, first_order_at, last_order_at, p_alive, churn_risk, churn_factors,
                segment, value_percentile)
            VALUES ($1, 40, 4000, 100, 'EUR', now() - interval '6 years',
                    now() - interval '200 days', 0.3, 0.7, '[]', 'at_risk', 0.97)
            """,
            filed.customer_id,
        )
        await conn.execute(
            "INSERT INTO kb_articles (source_key, title, body, content_hash) "
            "VALUES ('refunds', 'Refunds', 'Refunds reach your card within 5 days.', 'h')"
        )
        number = await conn.fetchval("SELECT number FROM tickets WHERE id = $1", filed.ticket_id)
    return Seeded(str(filed.customer_id), number, str(filed.ticket_id))


async def api_key(pool: asyncpg.Pool, role: str, scopes: list[str] | None) -> str:
    async with transaction(pool) as conn:
        made = await auth.create_api_key(conn, f"mcp {role}", role)  # type: ignore[arg-type]
        await conn.execute("UPDATE api_keys SET scopes = $2 WHERE id = $1", made.id, scopes)
    return made.key


def text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def data(result: CallToolResult) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))
