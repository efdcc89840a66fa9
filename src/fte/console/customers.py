"""The console's customers: a list with search, filters and sorting (by value, churn risk or
last contact, one keyset page at a time), a page per customer, and the customer panel the
ticket page includes (`customer_panel.html`)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final, cast

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from fte.auth.dependencies import SessionDep
from fte.console.templates_env import templates
from fte.customers import browse_repository as search
from fte.customers import profile_repository, profiles
from fte.db import PoolDep
from fte.errors import FteError, NotFound
from fte.kit import keyset

PAGE_SIZE: Final = 50
PANEL_TICKETS: Final = 10
CUSTOMER_TICKETS: Final = 100

router = APIRouter(tags=["console"])


async def panel(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    exclude_ticket: uuid.UUID | None = None,
    tickets: int = PANEL_TICKETS,
) -> dict[str, Any] | None:
    """What `customer_panel.html` shows: the customer's profile (profiles.profile_json, the
    shape every reader shares) and their other tickets, newest first."""
    profile = await profiles.profile_json(conn, customer_id)
    if profile is None:
        return None
    rows = await profile_repository.recent_tickets(conn, uuid.UUID(profile["id"]), tickets + 1)
    others = [r for r in rows if r["id"] != exclude_ticket][:tickets]
    return {"profile": profile, "tickets": others}


def _invalid(field: str, reason: str) -> FteError:
    return FteError("invalid request", detail=[{"field": field, "reason": reason}], status_code=422)


def _number(field: str, value: str, low: float, high: float | None = None) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise _invalid(field, "must be a number") from None
    if number != number or number < low or (high is not None and number > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise _invalid(field, f"must be {bound}")
    return number


@router.get("/console/customers", response_class=HTMLResponse, include_in_schema=False)
async def customers_page(
    request: Request,
    pool: PoolDep,
    session: SessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    segment: Annotated[str, Query(max_length=100)] = "",
    min_value: Annotated[str, Query(max_length=40)] = "",
    min_risk: Annotated[str, Query(max_length=40)] = "",
    sort: Annotated[str, Query(max_length=20)] = "value",
    cursor: Annotated[str, Query(max_length=400)] = "",
) -> HTMLResponse:
    """Customers found by name, email or external id, narrowed by segment, minimum value
    and minimum churn risk, sorted by value, risk or last contact; 422 naming a bad field."""
    if sort not in search.SORTS:
        raise _invalid("sort", f"must be one of {', '.join(search.SORTS)}")
    where = search.CustomerFilter(
        text=q.strip() or None,
        segment=segment.strip() or None,
        min_value=_number("min_value", min_value, 0),
        min_risk=_number("min_risk", min_risk, 0, 1),
    )
    after = None
    if cursor:
        try:
            after = keyset.decode(cursor)
        except ValueError:
            raise _invalid("cursor", "not a cursor from this page; start again") from None
    async with pool.acquire() as conn:
        rows = await search.search(conn, where, cast(search.Sort, sort), after, PAGE_SIZE + 1)
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    following = None
    if more:
        last = page[-1]
        key = last["sort_key"]
        following = keyset.encode(
            key.isoformat() if hasattr(key, "isoformat") else str(key), last["id"]
        )
    return templates.TemplateResponse(
        request,
        "customers.html",
        {
            "session": session,
            "rows": page,
            "following": following,
            "q": q,
            "segment": segment,
            "min_value": min_value,
            "min_risk": min_risk,
            "sort": sort,
            "sorts": {"value": "Value", "risk": "Churn risk", "last_contact": "Last contact"},
            "paged": bool(cursor),
        },
    )


@router.get(
    "/console/customers/{customer_id}", response_class=HTMLResponse, include_in_schema=False
)
async def customer_page(
    request: Request, customer_id: uuid.UUID, pool: PoolDep, session: SessionDep
) -> HTMLResponse:
    """One customer: the panel, and their tickets."""
    async with pool.acquire() as conn:
        shown = await panel(conn, customer_id, tickets=CUSTOMER_TICKETS)
    if shown is None:
        raise NotFound("customer not found")
    return templates.TemplateResponse(
        request, "customer.html", {"session": session, "panel": shown}
    )
