"""A ticket's life after the answer: it waits for the customer (`pending`); with no message on it
for FTE_AUTO_RESOLVE_HOURS it is resolved, by the AI when no person wrote on it, else by a
person. A customer's reply reopens it (intake does that, in the same statement that files it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from fte.auth.repository import audit
from fte.kit.metrics import TICKETS_AUTO_RESOLVED
from fte.tickets import repository
from fte.tickets import service as tickets

# Who the audit log names for what the housekeeping loop did.
ACTOR: Final = "system:auto-resolve"


@dataclass(frozen=True)
class AutoResolved:
    """One ticket the loop resolved."""

    ticket_id: uuid.UUID
    number: int
    channel: str
    solved_by: str


async def auto_resolve(
    conn: asyncpg.Connection, *, now: datetime, after: timedelta, limit: int
) -> list[AutoResolved]:
    """Resolve up to `limit` pending tickets with no message since `now - after`, each audited,
    counted and learnt from; in the caller's transaction. Run again, it finds nothing more."""
    rows = await repository.resolve_unanswered(conn, now - after, now, limit)
    done = [AutoResolved(r["id"], r["number"], r["channel"], r["solved_by"]) for r in rows]
    hours = after.total_seconds() / 3600
    for item in done:
        await audit(
            conn,
            ACTOR,
            "ticket.auto_resolve",
            item.ticket_id,
            {"solved_by": item.solved_by, "waited_hours": hours},
        )
        await tickets.resolved(conn, item.ticket_id, item.channel)
        TICKETS_AUTO_RESOLVED.labels(item.channel, item.solved_by).inc()
    return done
