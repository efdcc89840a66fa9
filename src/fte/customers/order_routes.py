"""HTTP for customer data coming in: one order pushed by the company's systems, and a sales
sync started now."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Response, status

from fte.auth.dependencies import AdminDep
from fte.config import SettingsDep
from fte.customers import order_repository as repo
from fte.customers.orders import REASONS, OrderIn
from fte.customers.sales_sync import SalesSync
from fte.db import PoolDep, transaction
from fte.errors import InvalidField

log = logging.getLogger(__name__)

router = APIRouter(tags=["customers"])

# Syncs started by the API, kept referenced until they end (asyncio holds tasks weakly).
_RUNNING: set[asyncio.Task[Any]] = set()


# AdminDep until API keys have scopes: then an ingest scope (issue 20, item 5).
@router.post(
    "/api/customers/events",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "The order was known: updated, or unchanged"},
        201: {"description": "A new order"},
        422: {"description": "A field is missing or invalid; it is named in `detail`"},
    },
)
async def order_event(
    order: OrderIn, response: Response, pool: PoolDep, _: AdminDep
) -> dict[str, Any]:
    """Store one order (idempotent on `order_id`); the customer is found by external id or
    email, or created. Their profile is rescored by the next scheduled rescoring, not now."""
    if order.email is None and order.external_id is None:
        raise InvalidField("email", REASONS["customer:missing"], "invalid order")
    async with transaction(pool) as conn:
        customer_id, created = await repo.customer_for_order(conn, order)
        outcome = await repo.upsert_order(conn, customer_id, order, "event")
    if outcome != "new":
        response.status_code = status.HTTP_200_OK
    return {
        "order_id": order.order_id,
        "status": outcome,
        "customer_id": str(customer_id),
        "customer_created": created,
    }


@router.post(
    "/api/admin/sync",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["admin"],
    responses={
        400: {"description": "No sales database configured"},
        409: {"description": "A sync is running already"},
    },
)
async def start_sync(pool: PoolDep, settings: SettingsDep, _: AdminDep) -> dict[str, Any]:
    """Start a sales sync now, in the background; `GET /health` (`customers.last_sync_at`)
    and `fte doctor` say how it went."""
    sync = SalesSync(pool, settings, "api")
    await sync.claim()  # 409 here, before answering, when one is running
    task = asyncio.create_task(sync.run(), name=f"sales-sync-{sync.run_id}")
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    return {"status": "sync_started", "run_id": sync.run_id}


def _finished(task: asyncio.Task[Any]) -> None:
    _RUNNING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("sales sync %s ended with an error", task.get_name(), exc_info=task.exception())
