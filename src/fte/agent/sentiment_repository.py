"""SQL for trained sentiment models (`sentiment_models`): workers load the newest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from fte.db import json_dumps


@dataclass(frozen=True)
class StoredModel:
    """One row of `sentiment_models`, JSON decoded."""

    id: int
    kind: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    trained_on: int
    created_at: datetime


async def save_model(
    conn: asyncpg.Connection,
    *,
    kind: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    trained_on: int,
) -> int:
    """Store a fitted model; returns its id. The newest model is the one in use."""
    # JSON travels as text both ways, so a bare asyncpg connection (no jsonb codec, unlike the
    # pool's in fte.db) works the same.
    model_id: int = await conn.fetchval(
        """
        INSERT INTO sentiment_models (kind, params, metrics, trained_on)
        VALUES ($1, $2::text::jsonb, $3::text::jsonb, $4)
        RETURNING id
        """,
        kind,
        json_dumps(params),
        json_dumps(metrics),
        trained_on,
    )
    return model_id


async def latest_model(conn: asyncpg.Connection) -> StoredModel | None:
    """The newest model, or None when none was ever trained."""
    row = await conn.fetchrow(
        """
        SELECT id, kind, params::text AS params, metrics::text AS metrics, trained_on, created_at
        FROM sentiment_models
        ORDER BY created_at DESC, id DESC
        LIMIT 1
        """
    )
    if row is None:
        return None
    return StoredModel(
        id=row["id"],
        kind=row["kind"],
        params=json.loads(row["params"]),
        metrics=json.loads(row["metrics"]),
        trained_on=row["trained_on"],
        created_at=row["created_at"],
    )
