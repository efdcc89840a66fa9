"""The tools a model may call, bound to one message and its database transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from fte.agent.responders.base import HistoryItem
from fte.agent.retrieval import Source
from fte.agent.schemas import MessageContext
from fte.tickets import repository as tickets

# Retrieval for a query of the model's own: the runner passes its `Agent.search`, so the tool
# box needs no import of the runner that hands it to the responder.
Search = Callable[[asyncpg.Connection, str], Awaitable[list[Source]]]

HISTORY_LIMIT = 20


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
