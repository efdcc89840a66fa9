"""The Customer Intelligence API: a profile by any key, a filtered and sorted search with
cursor pages, a customer's tickets. Scoped API keys (`customers:read`, `tickets:read`), each
with its rate limit; profiles come through the cache."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from fte.auth.dependencies import CustomersReader, TicketsReader
from fte.config import SettingsDep
from fte.customers import profile_repository, search_repository
from fte.customers.api_schemas import CustomerPage, CustomerProfile, CustomerTickets
from fte.customers.profile_cache import cached_profile
from fte.customers.profiles import summary_json, ticket_json
from fte.db import PoolDep
from fte.errors import FteError, NotFound
from fte.kit import keyset

router = APIRouter(tags=["customers"])

Sort = Literal["value", "-value", "risk", "-risk", "last_contact", "-last_contact"]
KeyPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=320,
        description="Our customer id, an email, a phone number (E.164) or your external id.",
        examples=["ada@example.com"],
    ),
]


class InvalidQuery(FteError):
    """A 422 naming one query parameter, shaped like the validation errors."""

    status_code = 422

    def __init__(self, field: str, reason: str):
        super().__init__(
            "invalid request",
            detail=[{"loc": ["query", field], "field": field, "reason": reason}],
        )


def encode_cursor(sort: str, value: Any, customer_id: uuid.UUID) -> str:
    """Opaque to clients: the sort it belongs to and the last row's (sort value, id)."""
    # str() of a Decimal or a float reads back exactly as numeric or real.
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return keyset.encode(text, customer_id, scope=sort)


def decode_cursor(cursor: str, sort: str) -> tuple[str, uuid.UUID]:
    """(sort value, customer id) of a cursor this API made for `sort`; 422 naming `cursor`."""
    try:
        value, customer_id = keyset.decode(cursor, scope=sort)
    except keyset.OtherScope:
        raise InvalidQuery("cursor", "the cursor belongs to another sort: start again") from None
    except ValueError:
        raise InvalidQuery("cursor", "not a cursor this API returned") from None
    if not isinstance(value, str):
        raise InvalidQuery("cursor", "not a cursor this API returned")
    return value, customer_id


@router.get(
    "/api/customers/{key}",
    response_model=CustomerProfile,
    summary="A customer's profile by id, email, phone or external id",
    responses={404: {"description": "No customer is known by this key"}},
)
async def get_customer(
    key: KeyPath, request: Request, pool: PoolDep, settings: SettingsDep, _: CustomersReader
) -> dict[str, Any]:
    """Value, orders, predictions (BG/NBD and Gamma-Gamma), churn risk with its factors, and
    support signals. Served from the cache when it holds it (scope `customers:read`)."""
    profile = await cached_profile(
        pool, request.app.state.cache, key, settings.profile_cache_seconds
    )
    if profile is None:
        raise NotFound("no customer is known by this key", detail={"key": key})
    return profile


@router.get(
    "/api/customers",
    response_model=CustomerPage,
    summary="Search customers by name, email or external id, value, churn risk and segment",
)
async def search_customers(
    pool: PoolDep,
    _: CustomersReader,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="A prefix of the name or email (any case) or of the external id.",
        ),
    ] = None,
    ltv_min: Annotated[float | None, Query(ge=0, description="Least lifetime value.")] = None,
    churn_risk_min: Annotated[
        float | None, Query(ge=0, le=1, description="Least churn risk (0 to 1).")
    ] = None,
    segment: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    sort: Annotated[
        Sort, Query(description="`-` first: descending. `last_contact`: latest ticket.")
    ] = "-value",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")
    ] = None,
) -> dict[str, Any]:
    """Customers with a scored profile matching every filter given, in `sort` order, one page
    at a time (keyset pages: each customer exactly once, however deep; scope `customers:read`)."""
    query = search_repository.Search(
        q=q,
        ltv_min=ltv_min,
        churn_risk_min=churn_risk_min,
        segment=segment,
        sort=sort,
        limit=limit,
        after=decode_cursor(cursor, sort) if cursor else None,
    )
    async with pool.acquire() as conn:
        rows = await search_repository.search(conn, query)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(sort, last["sort_value"], last["id"])
    return {"items": [summary_json(r) for r in page], "next_cursor": next_cursor}


@router.get(
    "/api/customers/{key}/tickets",
    response_model=CustomerTickets,
    summary="A customer's latest tickets",
    responses={404: {"description": "No customer is known by this key"}},
)
async def customer_tickets(
    key: KeyPath,
    pool: PoolDep,
    _: TicketsReader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Their tickets, newest first (scope `tickets:read`)."""
    async with pool.acquire() as conn:
        customer = await profile_repository.customer_by_key(conn, key)
        if customer is None:
            raise NotFound("no customer is known by this key", detail={"key": key})
        rows = await profile_repository.recent_tickets(conn, customer["id"], limit)
    return {"customer_id": str(customer["id"]), "tickets": [ticket_json(r) for r in rows]}
