"""A customer's profile as every reader sees it: the API, the MCP tools, the console's
customer panel, the agent's prompt and its `get_customer_history` tool.

One shape, built here, so the five readers cannot drift apart.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from fte.customers import profile_repository as repo
from fte.kit.json_output import iso, number


def sentiment_trend(early: float | None, late: float | None) -> str | None:
    """'improving', 'worsening' or 'steady' between the older and the newer half of their
    messages in 90 days (scores run from -1 to 1); None with too few messages."""
    if early is None or late is None:
        return None
    change = float(late) - float(early)
    if change > 0.2:
        return "improving"
    if change < -0.2:
        return "worsening"
    return "steady"


async def profile_json(conn: asyncpg.Connection, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """Everything we know of one customer, JSON-ready; None for an unknown id."""
    row = await repo.profile_by_key(conn, str(customer_id))
    return _build(row) if row is not None else None


async def find_profile(conn: asyncpg.Connection, key: str) -> dict[str, Any] | None:
    """The profile of the customer known by `key` (id, email, phone or external id)."""
    row = await repo.profile_by_key(conn, key)
    return _build(row) if row is not None else None


def _build(row: asyncpg.Record) -> dict[str, Any]:
    customer = scored = signals = row
    purchases: dict[str, Any] | None = None
    predictions: dict[str, Any] | None = None
    if row["scored_at"] is not None:
        last = scored["last_order_at"]
        purchases = {
            "orders": scored["orders"],
            "lifetime_value": number(scored["lifetime_value"]),
            "avg_order_value": number(scored["avg_order_value"]),
            "currency": scored["currency"],
            "first_order_at": iso(scored["first_order_at"]),
            "last_order_at": iso(last),
            "days_since_last_order": (scored["scored_at"] - last).days if last else None,
            "value_percentile": number(scored["value_percentile"]),
        }
        predictions = {
            "p_alive": number(scored["p_alive"]),
            "expected_purchases_90d": number(scored["expected_purchases_90d"]),
            "expected_value_90d": number(scored["expected_value_90d"]),
            "churn_risk": number(scored["churn_risk"]),
            "churn_factors": scored["churn_factors"],
            "segment": scored["segment"],
            "scored_at": iso(scored["scored_at"]),
        }
    return {
        "id": str(customer["id"]),
        "name": customer["name"],
        "email": customer["email"],
        "phone": customer["phone"],
        "external_id": customer["external_id"],
        "plan": customer["plan"],
        "customer_since": iso(customer["created_at"]),
        "erased": customer["erased_at"] is not None,
        "purchases": purchases,
        "predictions": predictions,
        "support": {
            "tickets_90d": signals["tickets_90d"] or 0,
            "escalations_90d": signals["escalations_90d"] or 0,
            "repeat_contacts_90d": signals["repeat_contacts_90d"] or 0,
            "last_contact_at": iso(signals["last_contact_at"]),
            "sentiment_trend": sentiment_trend(
                signals["sentiment_early"], signals["sentiment_late"]
            ),
        },
    }


def summary_json(row: Any) -> dict[str, Any]:
    """One customer in a search result: who, and the profile figures lists sort and filter by
    (a row of `search_repository.search`); the full profile is `GET /api/customers/{id}`."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "email": row["email"],
        "external_id": row["external_id"],
        "plan": row["plan"],
        "erased": row["erased_at"] is not None,
        "orders": row["orders"],
        "lifetime_value": number(row["lifetime_value"]),
        "currency": row["currency"],
        "last_order_at": iso(row["last_order_at"]),
        "last_contact_at": iso(row["last_contact_at"]),
        "p_alive": number(row["p_alive"]),
        "churn_risk": number(row["churn_risk"]),
        "segment": row["segment"],
        "value_percentile": number(row["value_percentile"]),
    }


def ticket_json(row: Any) -> dict[str, Any]:
    """One of a customer's tickets (a row of `profile_repository.recent_tickets`)."""
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "channel": row["channel"],
        "escalation_reason": row["escalation_reason"],
        "created_at": iso(row["created_at"]),
    }
