"""The tools' work, transport-free: each takes a connection and checked arguments and returns
JSON-ready data, or raises ToolFailed with a message the assistant can act on."""

from __future__ import annotations

import re
import uuid
from typing import Any, Final

import asyncpg

from fte.customers.profiles import find_profile, profile_json
from fte.kit.json_output import iso
from fte.knowledge import repository as knowledge
from fte.mcp import repository
from fte.tickets import notes
from fte.tickets import repository as tickets

TICKET_STATUSES: Final = ("open", "pending", "escalated", "resolved", "closed")
EXCERPT_CHARS: Final = 600
_NUMBER = re.compile(r"#?(\d{1,18})")


class ToolFailed(Exception):
    """An expected failure of a tool call (unknown record, bad input)."""


async def get_customer(conn: asyncpg.Connection, key: str) -> dict[str, Any]:
    """The profile of the customer known by `key`."""
    if not key.strip():
        raise ToolFailed("key: give a customer id, email, phone number or external id")
    profile = await find_profile(conn, key)
    if profile is None:
        raise ToolFailed(f"no customer is known by {key.strip()!r}")
    return profile


async def search_customers(
    conn: asyncpg.Connection,
    q: str | None,
    ltv_min: float | None,
    churn_risk_min: float | None,
    segment: str | None,
    limit: int,
) -> dict[str, Any]:
    """Profiles matching every filter, the most valuable first."""
    ids = await repository.search_customers(
        conn, (q or "").strip() or None, ltv_min, churn_risk_min, segment or None, limit
    )
    found = [await profile_json(conn, customer_id) for customer_id in ids]
    customers = [p for p in found if p is not None]
    return {"count": len(customers), "customers": customers}


async def _ticket_id(conn: asyncpg.Connection, ticket: str) -> uuid.UUID:
    text = ticket.strip()
    number = _NUMBER.fullmatch(text)
    if number:
        found = await repository.ticket_id_by_number(conn, int(number.group(1)))
        if found is None:
            raise ToolFailed(f"no ticket has number {number.group(1)}")
        return found
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ToolFailed("ticket: give a ticket number (e.g. 42) or its id (a UUID)") from None


def _ticket_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "subject": row["subject"],
        "status": row["status"],
        "priority": row["priority"],
        "priority_reason": row["priority_reason"],
        "channel": row["channel"],
        "escalation_reason": row["escalation_reason"],
        "customer_id": str(row["customer_id"]),
        "customer_name": row["customer_name"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


async def get_ticket(conn: asyncpg.Connection, ticket: str) -> dict[str, Any]:
    """A ticket with its messages (oldest first) and its internal notes."""
    ticket_id = await _ticket_id(conn, ticket)
    row = await tickets.get_ticket(conn, ticket_id)
    if row is None:
        raise ToolFailed(f"no ticket has id {ticket_id}")
    messages = [
        {
            "id": str(m["id"]),
            "direction": m["direction"],
            "author": m["author"],
            "channel": m["channel"],
            "subject": m["subject"],
            "body": m["body"],
            "sentiment": m["sentiment"],
            "created_at": iso(m["created_at"]),
        }
        for m in await tickets.list_messages(conn, ticket_id)
    ]
    return {
        **_ticket_json(row),
        "first_response_at": iso(row["first_response_at"]),
        "resolved_at": iso(row["resolved_at"]),
        "messages": messages,
        "internal_notes": await notes.notes_json(conn, ticket_id),
    }


async def search_tickets(
    conn: asyncpg.Connection, q: str | None, status: str | None, limit: int
) -> dict[str, Any]:
    """Tickets matching the words (subject or messages) and the status, newest first."""
    if status is not None and status not in TICKET_STATUSES:
        raise ToolFailed(f"status: one of {', '.join(TICKET_STATUSES)}")
    rows = await repository.search_tickets(conn, (q or "").strip() or None, status, limit)
    return {"count": len(rows), "tickets": [_ticket_json(r) for r in rows]}


async def search_knowledge_base(conn: asyncpg.Connection, query: str, limit: int) -> dict[str, Any]:
    """Articles matching the words, best first (full-text search: the API process holds no
    embedding model, so this is the console's knowledge-base search, not the agent's)."""
    if not query.strip():
        raise ToolFailed("query: give some words to search for")
    rows = await knowledge.list_articles(conn, query.strip(), limit)
    return {
        "count": len(rows),
        "articles": [
            {
                "id": str(r["id"]),
                "title": r["title"],
                "excerpt": r["body"][:EXCERPT_CHARS],
                "truncated": len(r["body"]) > EXCERPT_CHARS,
                "escalation_reason": r["escalation_reason"],
                "score": round(float(r["rank"]), 4),
            }
            for r in rows
        ],
    }


async def add_internal_note(
    conn: asyncpg.Connection, ticket: str, text: str, author: str
) -> dict[str, Any]:
    """Write an internal note (never sent to the customer) on the ticket."""
    ticket_id = await _ticket_id(conn, ticket)
    if await tickets.get_ticket(conn, ticket_id) is None:
        raise ToolFailed(f"no ticket has id {ticket_id}")
    try:
        return await notes.add_note(conn, ticket_id, author, text)
    except notes.NoteRejected as exc:
        raise ToolFailed(exc.message) from None
