"""A ticket's priority from its customer: the priority rules applied when a ticket is filed
(intake) and again once the agent has read the message's sentiment."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from pydantic import ValidationError

from fte.tickets import priority_repository as repository
from fte.tickets.priority_rules import Facts, Outcome, PriorityRule, evaluate

log = logging.getLogger(__name__)


def _rules(rows: list[dict[str, Any]]) -> list[PriorityRule]:
    rules = []
    for row in rows:
        try:
            rules.append(
                PriorityRule(priority=row["priority"], reason=row["reason"], when=row["conditions"])
            )
        except ValidationError as exc:
            # A row written by hand past the CLI's checks: the other rules still apply.
            log.warning("priority rule %r skipped: %s", row.get("reason"), exc.errors()[0]["msg"])
    return rules


async def outcome(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    *,
    channel: str | None,
    sentiment: str | None = None,
) -> Outcome | None:
    """What the rules say for a message of this customer (one query: their profile by primary
    key and the rules); None when no rule matches."""
    row = await repository.facts_and_rules(conn, customer_id)
    facts = Facts.of(row, channel=channel, sentiment=sentiment)
    return evaluate(_rules(row["rules"]), facts)


async def apply_on_filing(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, customer_id: uuid.UUID, channel: str
) -> Outcome | None:
    """Raise a newly filed ticket's priority by the rules that match its customer; the
    outcome when it was raised."""
    found = await outcome(conn, customer_id, channel=channel)
    if found is None:
        return None
    raised = await repository.raise_priority(conn, ticket_id, found.priority, found.reason)
    return found if raised else None
