"""The tools a model may call, bound to one message and its database transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from fte.agent.responders.base import HistoryItem
from fte.agent.retrieval import Source
from fte.agent.schemas import MessageContext
from fte.customers import profile_repository, profiles
from fte.tickets import repository as tickets

# Retrieval for a query of the model's own: the runner passes its `Agent.search`, so the tool
# box needs no import of the runner that hands it to the responder.
Search = Callable[[asyncpg.Connection, str], Awaitable[list[Source]]]

HISTORY_LIMIT = 20
RECENT_TICKETS = 5
OPEN = ("open", "pending", "escalated")


class AgentToolBox:
    """search_knowledge_base and get_customer_history for the responder."""

    def __init__(self, conn: asyncpg.Connection, ctx: MessageContext, search: Search):
        self._conn = conn
        self._ctx = ctx
        self._search = search

    async def search_knowledge_base(self, query: str) -> list[Source]:
        """Articles for the model's own query, best first."""
        return await self._search(self._conn, query)

    async def get_customer_history(self) -> list[HistoryItem]:
        """This customer's earlier messages on any channel, oldest first (the latest few)."""
        rows = await tickets.customer_history(
            self._conn, self._ctx.customer_id, self._ctx.message_id, HISTORY_LIMIT
        )
        return [
            HistoryItem(
                direction=r["direction"],
                author=r["author"],
                body=r["body"],
                ticket_number=r["number"],
                created_at=r["created_at"].isoformat(),
            )
            for r in reversed(rows)
        ]


def _share(value: float | None) -> float | None:
    # real columns come back as 0.8199999928474426: the model reads 0.82.
    return round(value, 3) if value is not None else None


def _factors(factors: Any) -> list[str]:
    """The churn factors as words, strongest first (a factor may be a dict or a string)."""
    words = []
    for factor in (factors or [])[:3]:
        if isinstance(factor, dict):
            words.append(str(factor.get("detail") or factor.get("factor") or ""))
        else:
            words.append(str(factor))
    return [w for w in words if w]


async def customer_context(
    conn: asyncpg.Connection, customer_id: uuid.UUID, ticket_id: uuid.UUID
) -> dict[str, Any] | None:
    """What the model is told about the customer: the profile's facts (no contact details:
    the model needs who they are to us, not how to reach them), their open tickets and their
    latest other tickets. None for an unknown customer."""
    profile = await profiles.profile_json(conn, customer_id)
    if profile is None:
        return None
    rows = await profile_repository.recent_tickets(conn, customer_id, 20)
    others = [r for r in rows if r["id"] != ticket_id]
    purchases = profile["purchases"] or {}
    predictions = profile["predictions"] or {}
    return {
        "customer_since": (profile["customer_since"] or "")[:10] or None,
        "plan": profile["plan"],
        "segment": predictions.get("segment"),
        "orders": purchases.get("orders", 0),
        "lifetime_value": purchases.get("lifetime_value"),
        "currency": purchases.get("currency"),
        "value_percentile": _share(purchases.get("value_percentile")),
        "last_purchase": (purchases.get("last_order_at") or "")[:10] or None,
        "days_since_last_purchase": purchases.get("days_since_last_order"),
        "churn_risk": _share(predictions.get("churn_risk")),
        "churn_factors": _factors(predictions.get("churn_factors")),
        "support": profile["support"],
        "open_tickets": sum(1 for r in others if r["status"] in OPEN),
        "recent_tickets": [
            {
                "number": r["number"],
                "subject": r["subject"],
                "status": r["status"],
                "priority": r["priority"],
                "channel": r["channel"],
                "created_at": r["created_at"].date().isoformat(),
            }
            for r in others[:RECENT_TICKETS]
        ],
    }
