"""SQL for rescoring: every customer's purchase statistics in one aggregate query, the fitted
model's row, and every profile written in bulk (COPY into a temporary table, one upsert)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

# Orders in these states were never paid for, or were paid back: they are not purchases.
NOT_PURCHASES = ("cancelled", "canceled", "refunded", "void", "failed")

# A merged customer's orders count for the customer they were merged into (one level: merging
# re-points earlier merges at the customer kept).
_STATISTICS = """
WITH placed AS (
    SELECT coalesce(c.merged_into, o.customer_id) AS customer_id, o.amount, o.currency,
           o.ordered_at, (o.ordered_at AT TIME ZONE 'UTC')::date AS day
      FROM orders o JOIN customers c ON c.id = o.customer_id
     WHERE o.ordered_at <= $1
       AND (o.status IS NULL OR lower(o.status) <> ALL($3::text[]))
), days AS (
    SELECT customer_id, day, count(*) AS n, sum(amount) AS amount, min(currency) AS currency,
           min(ordered_at) AS first_at, max(ordered_at) AS last_at
      FROM placed GROUP BY customer_id, day
)
SELECT customer_id,
       sum(n)::int AS orders,
       sum(amount)::float8 AS total,
       mode() WITHIN GROUP (ORDER BY currency) AS currency,
       min(first_at) AS first_order_at,
       max(last_at) AS last_order_at,
       (count(*) - 1)::int AS frequency,
       ($2::date - min(day))::int AS age_days,
       (max(day) - min(day))::int AS recency_days,
       ((array_agg(amount ORDER BY day))[1])::float8 AS first_day_amount
  FROM days
 GROUP BY customer_id
"""

SCORE_COLUMNS = (
    "customer_id",
    "orders",
    "lifetime_value",
    "avg_order_value",
    "currency",
    "first_order_at",
    "last_order_at",
    "p_alive",
    "expected_purchases_90d",
    "expected_value_90d",
    "churn_risk",
    "churn_factors",
    "segment",
    "value_percentile",
)


async def purchase_statistics(conn: asyncpg.Connection, now: dt.datetime) -> list[asyncpg.Record]:
    """Per customer with orders up to `now`: orders, total, currency, first and last order,
    and the model's inputs on distinct UTC days: frequency (repeat purchase days), age (days
    since the first purchase day) and recency (days from the first to the last), and the
    amount of the first day (so the repeat purchases' average can leave it out)."""
    today = now.astimezone(dt.UTC).date()
    rows: list[asyncpg.Record] = await conn.fetch(_STATISTICS, now, today, list(NOT_PURCHASES))
    return rows


async def lock_rescoring(conn: asyncpg.Connection) -> None:
    """Serialise rescoring: a second run waits for the first to commit (then redoes it)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('fte.customers.rescore'))")


async def insert_model(
    conn: asyncpg.Connection, params: dict[str, Any], customers: int, note: str | None
) -> int:
    """A new `clv_models` row (its seconds filled in by `finish_model`); its id."""
    model_id: int = await conn.fetchval(
        "INSERT INTO clv_models (params, customers, seconds, note) VALUES ($1, $2, 0, $3) "
        "RETURNING id",
        params,
        customers,
        note,
    )
    return model_id


async def finish_model(conn: asyncpg.Connection, model_id: int, seconds: float) -> None:
    """Record how long fitting and rescoring took."""
    await conn.execute("UPDATE clv_models SET seconds = $2 WHERE id = $1", model_id, seconds)


async def latest_model(conn: asyncpg.Connection) -> asyncpg.Record | None:
    """The most recent fit (None before the first rescoring)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, fitted_at, params, customers, seconds, note FROM clv_models "
        "ORDER BY id DESC LIMIT 1"
    )
    return row


async def write_profiles(
    conn: asyncpg.Connection,
    rows: Iterable[Sequence[Any]],
    *,
    model_id: int,
    scored_at: dt.datetime,
) -> None:
    """Replace every scored profile with `rows` (in `SCORE_COLUMNS` order): one COPY, one
    upsert, and the profiles of customers with no purchase left (refunded, merged) removed."""
    await conn.execute(
        """
        CREATE TEMPORARY TABLE profile_scores (
            customer_id uuid, orders integer, lifetime_value float8, avg_order_value float8,
            currency text, first_order_at timestamptz, last_order_at timestamptz,
            p_alive float8, expected_purchases_90d float8, expected_value_90d float8,
            churn_risk float8, churn_factors text, segment text, value_percentile float8
        ) ON COMMIT DROP
        """
    )
    await conn.copy_records_to_table("profile_scores", records=rows, columns=SCORE_COLUMNS)
    await conn.execute(
        """
        INSERT INTO customer_profiles (
            customer_id, orders, lifetime_value, avg_order_value, currency, first_order_at,
            last_order_at, p_alive, expected_purchases_90d, expected_value_90d, churn_risk,
            churn_factors, segment, value_percentile, model_id, scored_at)
        SELECT customer_id, orders, round(lifetime_value::numeric, 2),
               round(avg_order_value::numeric, 2), currency, first_order_at, last_order_at,
               p_alive, expected_purchases_90d, round(expected_value_90d::numeric, 2),
               churn_risk, churn_factors::jsonb, segment, value_percentile, $1, $2
          FROM profile_scores ORDER BY customer_id
        ON CONFLICT (customer_id) DO UPDATE SET
            orders = EXCLUDED.orders, lifetime_value = EXCLUDED.lifetime_value,
            avg_order_value = EXCLUDED.avg_order_value, currency = EXCLUDED.currency,
            first_order_at = EXCLUDED.first_order_at, last_order_at = EXCLUDED.last_order_at,
            p_alive = EXCLUDED.p_alive,
            expected_purchases_90d = EXCLUDED.expected_purchases_90d,
            expected_value_90d = EXCLUDED.expected_value_90d,
            churn_risk = EXCLUDED.churn_risk, churn_factors = EXCLUDED.churn_factors,
            segment = EXCLUDED.segment, value_percentile = EXCLUDED.value_percentile,
            model_id = EXCLUDED.model_id, scored_at = EXCLUDED.scored_at
        """,
        model_id,
        scored_at,
    )
    await conn.execute(
        """
        DELETE FROM customer_profiles p
         WHERE NOT EXISTS (SELECT 1 FROM profile_scores s WHERE s.customer_id = p.customer_id)
        """
    )
