"""Ticket rules: the customer's status link and what it may show, and what people do to a
ticket: change it, take it over, answer the customer, approve the agent's draft (in the console,
or in the channel itself: a Chatwoot agent's `/approve` note), resolve it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from typing import Final

import asyncpg

from fte.auth.repository import audit
from fte.bus import outbox, topics
from fte.errors import FteError, NotFound
from fte.kit import secrets
from fte.kit.metrics import TICKETS_RESOLVED
from fte.tickets import repository
from fte.tickets.schemas import CustomerState, PublicMessage, PublicRating, PublicTicket


def status_token(secret: str, ticket_id: uuid.UUID) -> str:
    """An unguessable token for a ticket's status link: HMAC of its id, so nothing is stored."""
    mac = hmac.new(secret.encode(), b"ticket-status:" + ticket_id.bytes, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode().rstrip("=")


def status_path(secret: str, ticket_id: uuid.UUID) -> str:
    """The path of the customer's status page for this ticket, token included."""
    return f"/support/tickets/{ticket_id}?token={status_token(secret, ticket_id)}"


# What a customer is told about their ticket: never the desk's words (pending, escalated).
CUSTOMER_STATES: Final[dict[str, CustomerState]] = {
    "open": "on_it",
    "escalated": "on_it",
    "pending": "waiting_for_you",
    "resolved": "solved",
    "closed": "solved",
}
CUSTOMER_WORDS: Final[dict[CustomerState, str]] = {
    "on_it": "We're on it",
    "waiting_for_you": "Waiting for your reply",
    "solved": "Solved",
}


class NotSolvedYet(FteError):
    status_code = 409


async def token_holder_ticket(
    conn: asyncpg.Connection, secret: str, ticket_id: uuid.UUID, token: str
) -> asyncpg.Record:
    """The ticket, for whoever holds its link's token (compared in constant time). A wrong
    token and a missing ticket are the same 404, so a guess learns nothing."""
    if not secrets.equal(token, status_token(secret, ticket_id)):
        raise NotFound("ticket not found")
    ticket = await repository.get_ticket(conn, ticket_id)
    if ticket is None:
        raise NotFound("ticket not found")
    return ticket


async def public_view(
    conn: asyncpg.Connection, secret: str, ticket_id: uuid.UUID, token: str
) -> PublicTicket:
    """What the customer may see: status in their words and the conversation. A wrong token
    is a 404."""
    ticket = await token_holder_ticket(conn, secret, ticket_id, token)
    messages = await repository.list_messages(conn, ticket_id)
    rating = await repository.get_rating(conn, ticket_id)
    state = CUSTOMER_STATES.get(ticket["status"], "on_it")
    return PublicTicket(
        id=ticket["id"],
        number=ticket["number"],
        status=ticket["status"],
        state=state,
        status_text=CUSTOMER_WORDS[state],
        can_reply=ticket["status"] != "closed",
        rating=PublicRating(score=rating["score"], comment=rating["comment"]) if rating else None,
        subject=ticket["subject"],
        created_at=ticket["created_at"],
        updated_at=ticket["updated_at"],
        messages=[
            PublicMessage(
                direction=m["direction"],
                author="you" if m["author"] == "customer" else "support",
                body=m["body"],
                created_at=m["created_at"],
            )
            for m in messages
        ],
    )


async def rate(
    conn: asyncpg.Connection,
    secret: str,
    ticket_id: uuid.UUID,
    token: str,
    score: int,
    comment: str | None,
) -> None:
    """The token holder rates their solved ticket (1-5, an optional comment); rating again
    replaces it. Before the ticket is solved: 409."""
    ticket = await token_holder_ticket(conn, secret, ticket_id, token)
    if CUSTOMER_STATES.get(ticket["status"]) != "solved":
        raise NotSolvedYet(
            "not solved yet",
            detail=[{"field": "score", "reason": "You can rate this request once it is solved"}],
        )
    await repository.save_rating(conn, ticket_id, score, comment)


async def resolve(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, *, solved_by: str = "person"
) -> None:
    """Mark the ticket resolved (by a person, unless said otherwise); its answered questions
    are learnt from in the background."""
    channel = await repository.mark_resolved(conn, ticket_id, solved_by)
    if channel is None:
        raise NotFound("ticket not found")
    await resolved(conn, ticket_id, channel)


async def resolved(conn: asyncpg.Connection, ticket_id: uuid.UUID, channel: str) -> None:
    """What follows a ticket's resolution however it came: counted, and learnt from."""
    # Callers resolve on a change to `resolved` only. In the caller's transaction: a rare
    # rollback over-counts by one.
    TICKETS_RESOLVED.labels(channel).inc()
    await outbox.enqueue(conn, topics.LEARN, f"learn:{ticket_id}", {"ticket_id": str(ticket_id)})


async def change(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, status: str, priority: str, *, actor: str
) -> dict[str, tuple[str, str]]:
    """Set status and priority as a person (`actor`) chose them, audited when anything
    changed; what changed, as (before, after). Resolving goes through `resolve` so the ticket
    is learnt from."""
    before = await repository.set_status_and_priority(conn, ticket_id, status, priority, actor)
    if before is None:
        raise NotFound("ticket not found")
    if status == "resolved" and before["status"] != "resolved":
        await resolve(conn, ticket_id)
    changed = {
        field: (before[field], value)
        for field, value in (("status", status), ("priority", priority))
        if before[field] != value
    }
    if changed:
        detail: dict[str, object] = {
            field: {"from": old, "to": new} for field, (old, new) in changed.items()
        }
        await audit(conn, actor, "ticket.change", ticket_id, detail)
    return changed


async def assign(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID | None, *, actor: str
) -> uuid.UUID | None:
    """A person takes the ticket over or gives it to a teammate (the agent stays silent on it)
    or, with None, hands it back, audited when that changed who has it; returns who had it
    before."""
    before = await repository.assign(conn, ticket_id, user_id)
    if before is None:
        raise NotFound("ticket not found")
    previous: uuid.UUID | None = before["assignee_id"]
    if previous != user_id:
        if user_id is None:
            action = "ticket.hand_back"
        elif actor == f"user:{user_id}":
            action = "ticket.take_over"
        else:
            action = "ticket.assign"
        detail: dict[str, object] = {
            "from": str(previous) if previous else None,
            "to": str(user_id) if user_id else None,
        }
        await audit(conn, actor, action, ticket_id, detail)
    return previous


async def resolve_thread(conn: asyncpg.Connection, channel: str, thread: str) -> bool:
    """The channel says the conversation is resolved: resolve its open ticket. False when it
    has none."""
    ticket_id = await repository.find_open_ticket_by_thread(conn, channel, thread)
    if ticket_id is None:
        return False
    await resolve(conn, ticket_id)
    return True
