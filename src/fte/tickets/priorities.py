"""A ticket's priority from its customer: the priority rules applied when a ticket is filed
(intake) and again once the agent has read the message's sentiment; and changing the rules
(`fte priority`, the console's Priority rules page), audited."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from pydantic import ValidationError

from fte.auth.repository import audit
from fte.errors import FteError, NotFound
from fte.tickets import priority_repository as repository
from fte.tickets.priority_rules import Facts, Outcome, PriorityRule, evaluate, sentence

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


def checked_rule(priority: str, reason: str, conditions: dict[str, Any]) -> PriorityRule:
    """The rule, or a 422 naming each bad field ("churn_risk_min", "priority")."""
    try:
        return PriorityRule.model_validate(
            {"priority": priority, "reason": reason.strip(), "when": conditions}
        )
    except ValidationError as exc:
        detail = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "when") or "conditions",
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['reason']}" for d in detail)
        raise FteError(f"invalid rule: {message}", detail=detail, status_code=422) from exc


async def add_rule(
    conn: asyncpg.Connection,
    priority: str,
    reason: str,
    conditions: dict[str, Any],
    *,
    actor: str,
) -> tuple[int, PriorityRule]:
    """A new rule read after the others, audited; a bad one is a 422 naming the field."""
    rule = checked_rule(priority, reason, conditions)
    when = rule.when.model_dump(exclude_none=True)
    rule_id = await repository.add_rule(conn, rule.priority, rule.reason, when)
    detail: dict[str, object] = {"id": rule_id, "rule": sentence(rule)}
    await audit(conn, actor, "priority_rule.add", None, detail)
    return rule_id, rule


async def remove_rule(conn: asyncpg.Connection, rule_id: int, *, actor: str) -> None:
    """Delete a rule, audited; tickets it raised keep their priority. 404 when unknown."""
    if not await repository.remove_rule(conn, rule_id):
        raise NotFound(f"no priority rule {rule_id}")
    await audit(conn, actor, "priority_rule.remove", None, {"id": rule_id})
