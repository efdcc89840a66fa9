"""HTTP for customers (admin): merge two customers, and the link suggestions to confirm."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query

from fte.auth.dependencies import AdminDep
from fte.config import SettingsDep
from fte.customers import repository, service
from fte.customers.profile_cache import invalidate_profiles
from fte.customers.schemas import MergeRequest
from fte.db import PoolDep, transaction

router = APIRouter(tags=["admin"])


@router.post(
    "/api/admin/customers/{keep_id}/merge",
    responses={404: {"description": "Unknown customer"}, 409: {"description": "Merged elsewhere"}},
)
async def merge_customers(
    keep_id: uuid.UUID,
    body: MergeRequest,
    pool: PoolDep,
    settings: SettingsDep,
    principal: AdminDep,
) -> dict[str, object]:
    """Move the other customer's tickets, conversations and identities to `keep_id`, in one
    transaction, audited; merging the same pair again changes nothing (`merged: false`)."""
    async with transaction(pool) as conn:
        result = await service.merge(conn, keep_id, body.other_id, principal.actor)
    if result.merged:
        # The merged customer's keys now find the one kept: no cached profile may say otherwise.
        await invalidate_profiles(settings)
    return result.as_json()


@router.get("/api/admin/customers/link-suggestions")
async def link_suggestions(
    pool: PoolDep,
    _: AdminDep,
    customer_id: uuid.UUID | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Identities a customer claimed in a message or form (owned by another customer, or by
    nobody yet: `owner_id` null): confirm one with a merge."""
    async with pool.acquire() as conn:
        rows = await repository.open_suggestions(conn, customer_id, limit)
    return [suggestion_json(r) for r in rows]


def suggestion_json(row: Any) -> dict[str, Any]:
    """One suggestion, for the API and `fte customer suggestions --json`."""
    return {
        "id": row["id"],
        "customer_id": str(row["customer_id"]),
        "customer_name": row["customer_name"],
        "owner_id": str(row["owner_id"]) if row["owner_id"] else None,
        "owner_name": row["owner_name"],
        "kind": row["kind"],
        "value": row["value"],
        "message_id": str(row["message_id"]) if row["message_id"] else None,
        "created_at": row["created_at"].isoformat(),
    }
