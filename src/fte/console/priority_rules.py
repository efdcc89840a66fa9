"""The console's Priority rules page: everyone signed in reads the rules in plain words;
admins add and remove them (CSRF, audited), effective for the next ticket filed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fte.auth.dependencies import Forbidden, FormSessionDep, SessionDep
from fte.auth.schemas import Session
from fte.console.templates_env import templates
from fte.db import PoolDep, transaction
from fte.errors import FteError
from fte.tickets import priorities
from fte.tickets import priority_repository as repository
from fte.tickets.priority_rules import PRIORITIES, describe, parse

router = APIRouter(tags=["console"])

Field = Annotated[str, Form(max_length=200)]


def _admin(session: Session) -> str:
    """The actor for the audit log; 403 for an agent."""
    if session.user.role != "admin":
        raise Forbidden("admin role required to change priority rules")
    return f"user:{session.user.id}"


def _number(field: str, value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise FteError(
            "invalid request",
            detail=[{"field": field, "reason": "must be a number"}],
            status_code=422,
        ) from None


def _words(value: str) -> list[str] | None:
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or None


@router.get("/console/priority-rules", response_class=HTMLResponse, include_in_schema=False)
async def rules_page(request: Request, pool: PoolDep, session: SessionDep) -> HTMLResponse:
    async with pool.acquire() as conn:
        rows = await repository.list_rules(conn)
    shown = [
        {
            "id": row["id"],
            "priority": rule.priority,
            "reason": rule.reason,
            "when": describe(rule.when),
        }
        for row, rule in zip(rows, parse(rows), strict=True)
    ]
    return templates.TemplateResponse(
        request,
        "priority_rules.html",
        {
            "session": session,
            "rules": shown,
            "priorities": PRIORITIES,
            "can_edit": session.user.role == "admin",
        },
    )


@router.post("/console/priority-rules", include_in_schema=False)
async def add_rule(
    pool: PoolDep,
    session: FormSessionDep,
    priority: Field = "",
    reason: Field = "",
    value_percentile_min: Field = "",
    churn_risk_min: Field = "",
    lifetime_value_min: Field = "",
    orders_min: Field = "",
    segment: Field = "",
    plan: Field = "",
    sentiment: Field = "",
    channel: Field = "",
) -> Response:
    """A rule from the form; 403 for an agent or without the token, 422 naming a bad field."""
    actor = _admin(session)
    conditions: dict[str, Any] = {
        key: value
        for key, value in (
            ("value_percentile_min", _number("value_percentile_min", value_percentile_min)),
            ("churn_risk_min", _number("churn_risk_min", churn_risk_min)),
            ("lifetime_value_min", _number("lifetime_value_min", lifetime_value_min)),
            ("orders_min", _number("orders_min", orders_min)),
            ("segment", _words(segment)),
            ("plan", _words(plan)),
            ("sentiment", _words(sentiment)),
            ("channel", _words(channel)),
        )
        if value is not None
    }
    if "orders_min" in conditions:
        if not float(conditions["orders_min"]).is_integer():
            raise FteError(
                "invalid request",
                detail=[{"field": "orders_min", "reason": "must be a whole number"}],
                status_code=422,
            )
        conditions["orders_min"] = int(conditions["orders_min"])
    async with transaction(pool) as conn:
        await priorities.add_rule(conn, priority, reason, conditions, actor=actor)
    return RedirectResponse("/console/priority-rules", status_code=303)


@router.post("/console/priority-rules/{rule_id}/delete", include_in_schema=False)
async def remove_rule(rule_id: int, pool: PoolDep, session: FormSessionDep) -> Response:
    actor = _admin(session)
    async with transaction(pool) as conn:
        await priorities.remove_rule(conn, rule_id, actor=actor)
    return RedirectResponse("/console/priority-rules", status_code=303)
