"""The MCP server: the tools registered with the official SDK, each checked against the
caller's scopes and answered as JSON text."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

import asyncpg
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from fte import __version__
from fte.db import DB_ERRORS, connection, transaction
from fte.errors import ServiceUnavailable
from fte.mcp import access, tools
from fte.mcp.access import ADMIN, CUSTOMERS_READ, TICKETS_READ

log = logging.getLogger(__name__)

NAME: Final = "customer-success-fte"
INSTRUCTIONS: Final = (
    "Customer Success FTE: look up customers (value, orders, churn risk, support history), "
    "tickets with their messages, and the knowledge base the support agent answers from. "
    "Every tool answers JSON text."
)
MAX_LIMIT: Final = 50
READ_ONLY: Final = ToolAnnotations(read_only_hint=True, open_world_hint=False)

PoolSource = Callable[[], asyncpg.Pool]
Work = Callable[[asyncpg.Connection], Awaitable[dict[str, Any]]]

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many to return (1-50).")]


def _caller(scope: str) -> access.Access:
    caller = access.current.get()
    if caller is None:
        raise ToolError("unauthorized: no caller (an API key is required)")
    if not caller.allows(scope):
        raise ToolError(f"forbidden: this API key lacks the {scope!r} scope")
    return caller


async def _run(pool: asyncpg.Pool, work: Work, *, writes: bool) -> str:
    try:
        opened = transaction(pool) if writes else connection(pool)
        async with opened as conn:
            result = await work(conn)
    except tools.ToolFailed as exc:
        raise ToolError(str(exc)) from None
    except (ServiceUnavailable, *DB_ERRORS) as exc:
        log.warning("MCP tool: database unavailable (%s)", type(exc).__name__)
        raise ToolError("database unavailable; try again shortly") from None
    return json.dumps(result, default=str, ensure_ascii=False)


def build_server(pool_of: PoolSource) -> MCPServer:
    """The server with every tool, reading through the pool `pool_of` returns."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    server: MCPServer = MCPServer(name=NAME, version=__version__, instructions=INSTRUCTIONS)
    # The SDK calls logging.basicConfig, which on a process without handlers yet (a script
    # building the app) would install its own, unredacted: logging stays the process's.
    root.setLevel(level)
    root.handlers[:] = handlers

    async def call(scope: str, work: Work, *, writes: bool = False) -> str:
        _caller(scope)
        return await _run(pool_of(), work, writes=writes)

    async def get_customer(
        key: Annotated[
            str,
            Field(
                min_length=1,
                max_length=320,
                description="The customer's id, email, phone number (E.164) or external id.",
            ),
        ],
    ) -> str:
        """A customer's profile: who they are, orders and lifetime value, predictions (churn
        risk and its factors, segment) and support signals."""
        return await call(CUSTOMERS_READ, lambda conn: tools.get_customer(conn, key))

    async def search_customers(
        q: Annotated[
            str | None,
            Field(max_length=200, description="Part of a name, email, phone or external id."),
        ] = None,
        ltv_min: Annotated[
            float | None, Field(ge=0, description="Lowest lifetime value to include.")
        ] = None,
        churn_risk_min: Annotated[
            float | None, Field(ge=0, le=1, description="Lowest churn risk (0-1) to include.")
        ] = None,
        segment: Annotated[
            str | None, Field(max_length=100, description="Only this segment.")
        ] = None,
        limit: Limit = 20,
    ) -> str:
        """Customers matching every filter given, the most valuable first, as profiles."""
        return await call(
            CUSTOMERS_READ,
            lambda conn: tools.search_customers(conn, q, ltv_min, churn_risk_min, segment, limit),
        )

    async def get_ticket(
        ticket: Annotated[
            str,
            Field(
                min_length=1,
                max_length=64,
                description="The ticket's number (e.g. 42 or #42) or its id (a UUID).",
            ),
        ],
    ) -> str:
        """A ticket with its messages, oldest first, and its internal notes."""
        return await call(TICKETS_READ, lambda conn: tools.get_ticket(conn, ticket))

    async def search_tickets(
        q: Annotated[
            str | None,
            Field(max_length=200, description="Words in the subject or any message."),
        ] = None,
        status: Annotated[
            str | None,
            Field(description="open, pending, escalated, resolved or closed."),
        ] = None,
        limit: Limit = 20,
    ) -> str:
        """Tickets matching the words and the status, newest first."""
        return await call(TICKETS_READ, lambda conn: tools.search_tickets(conn, q, status, limit))

    async def search_knowledge_base(
        query: Annotated[str, Field(min_length=1, max_length=500, description="What to look up.")],
        limit: Limit = 5,
    ) -> str:
        """Knowledge-base articles matching the words, best first, with an excerpt each."""
        return await call(
            TICKETS_READ, lambda conn: tools.search_knowledge_base(conn, query, limit)
        )

    async def add_internal_note(
        ticket: Annotated[
            str,
            Field(min_length=1, max_length=64, description="The ticket's number or id."),
        ],
        text: Annotated[
            str, Field(min_length=1, max_length=10_000, description="The note (plain text).")
        ],
    ) -> str:
        """Write an internal note on a ticket: for staff only, never sent to the customer.
        Needs an admin key."""
        author = _caller(ADMIN).actor
        return await call(
            ADMIN,
            lambda conn: tools.add_internal_note(conn, ticket, text, author),
            writes=True,
        )

    for read in (get_customer, search_customers, get_ticket, search_tickets):
        server.add_tool(read, annotations=READ_ONLY, structured_output=False)
    server.add_tool(search_knowledge_base, annotations=READ_ONLY, structured_output=False)
    server.add_tool(
        add_internal_note,
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
        structured_output=False,
    )
    return server
