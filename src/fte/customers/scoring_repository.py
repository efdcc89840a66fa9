"""SQL for rescoring: every customer's purchase statistics in one aggregate query (kept in a
temporary table for the transaction), the fitted model's row, and every profile written in
one upsert that joins those statistics with the scores numpy computed, passed as arrays."""

from __future__ import annotations

import datetime as dt
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

# The pool's 30-second statement timeout is for requests; reading and rewriting a million
# profiles is one statement each, and on a busy machine takes minutes.
BULK_TIMEOUT = 900.0

# What numpy computes per customer, in `customer_stats.idx` order, and their SQL types.
SCORE_ARRAYS = {
    "p_alive": "float8",
    "expected_purchases": "float8",
    "expected_value": "float8",
    "churn_risk": "float8",
    "value_percentile": "float8",
    "gone_weight": "float8",
    "rare_weight": "float8",
    "if_active": "float8",
    "segment": "text",
}


async def collect_statistics(conn: asyncpg.Connection, now: dt.datetime) -> int:
    """Per customer with orders up to `now`, into the transaction's `customer_stats` table:
    orders, total, currency, first and last order, and the model's inputs on distinct UTC
    days: frequency (repeat purchase days), age (days since the first purchase day), recency
    (days from the first to the last), and the first day's amount (so the average of the
    repeat purchases can leave it out). Returns how many customers."""
    await conn.execute(
        """
        CREATE TEMPORARY TABLE customer_stats (
            idx bigint, customer_id uuid, orders integer, total float8, currency text,
            first_order_at timestamptz, last_order_at timestamptz, frequency integer,
            age_days integer, recency_days integer, first_day_amount float8
        ) ON COMMIT DROP
        """
    )
    today = now.astimezone(dt.UTC).date()
    status: str = await conn.execute(
        f"INSERT INTO customer_stats SELECT row_number() OVER (), s.* FROM ({_STATISTICS}) s",
        now,
        today,
        list(NOT_PURCHASES),
        timeout=BULK_TIMEOUT,
    )
    return int(status.split()[-1])


async def statistics_arrays(conn: asyncpg.Connection) -> asyncpg.Record:
    """The model's inputs from `customer_stats`, one array per column, in `idx` order."""
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT array_agg(frequency ORDER BY idx) AS frequency,
               array_agg(recency_days ORDER BY idx) AS recency_days,
               array_agg(age_days ORDER BY idx) AS age_days,
               array_agg(orders ORDER BY idx) AS orders,
               array_agg(total ORDER BY idx) AS total,
               array_agg(first_day_amount ORDER BY idx) AS first_day_amount
          FROM customer_stats
        """,
        timeout=BULK_TIMEOUT,
    )
    return row


async def lock_rescoring(conn: asyncpg.Connection) -> None:
    """Serialise rescoring (a second run waits for the first to commit, then redoes it) and
    give this transaction the memory its sorts need."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('fte.customers.rescore'))", timeout=BULK_TIMEOUT
    )
    # Grouping five million orders by customer and day sorts them: with the default 4 MB
    # the sort spills to disk in many passes.
    await conn.execute("SET LOCAL work_mem = '256MB'")


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


# The words of each churn factor. Built here, by the database, because formatting a
# million small JSON documents in Python takes a minute and in SQL a second; the weights and
# the rule that orders them come from `segments.factor_weights`.
_DAYS = "{0}::int || CASE WHEN {0}::int = 1 THEN ' day' ELSE ' days' END"
_FACTORS = f"""
CASE
  WHEN s.frequency = 0 THEN jsonb_build_array(jsonb_build_object(
      'factor', 'no repeat purchase', 'weight', f.rare_weight,
      'detail', 'one purchase day, ' || {_DAYS.format("s.age_days")} || ' ago; '
                || to_char(f.if_active, 'FM9990.0') || ' orders expected in 90 days'))
  WHEN least(f.gone_weight, f.rare_weight) < $3
    THEN jsonb_build_array(CASE WHEN f.gone_weight >= f.rare_weight THEN x.gone ELSE x.rare END)
  WHEN f.gone_weight >= f.rare_weight THEN jsonb_build_array(x.gone, x.rare)
  ELSE jsonb_build_array(x.rare, x.gone)
END
"""
_FACTOR_WORDS = f"""
CROSS JOIN LATERAL (
    SELECT s.age_days - s.recency_days AS quiet,
           s.recency_days::float8 / greatest(s.frequency, 1) AS gap
) q
CROSS JOIN LATERAL (
    SELECT jsonb_build_object(
               'factor', 'gone quiet', 'weight', f.gone_weight,
               'detail', 'quiet for ' || {_DAYS.format("q.quiet")}
                   || CASE WHEN q.gap > 0 AND q.quiet / q.gap >= 1.5
                      THEN ', ' || round(q.quiet / q.gap)::int || '× their usual gap of '
                           || {_DAYS.format("round(q.gap)")}
                      ELSE '' END) AS gone,
           jsonb_build_object(
               'factor', 'buys rarely', 'weight', f.rare_weight,
               'detail', 'fewer orders than a 90-day window needs: '
                   || to_char(f.if_active, 'FM9990.0') || ' expected if still active (one every '
                   || {_DAYS.format("round(q.gap)")} || ' so far)') AS rare
) x
"""


async def write_profiles(
    conn: asyncpg.Connection,
    scores: dict[str, list[Any]],
    *,
    model_id: int,
    scored_at: dt.datetime,
    min_factor_weight: float,
) -> None:
    """Replace every scored profile: `customer_stats` joined with `scores` (the
    `SCORE_ARRAYS`, in `idx` order) in one upsert; the profiles of customers with no purchase
    left (refunded, merged) removed."""
    names = list(SCORE_ARRAYS)
    unnest = ", ".join(f"${i + 4}::{SCORE_ARRAYS[name]}[]" for i, name in enumerate(names))
    await conn.execute(
        f"""
        INSERT INTO customer_profiles (
            customer_id, orders, lifetime_value, avg_order_value, currency, first_order_at,
            last_order_at, p_alive, expected_purchases_90d, expected_value_90d, churn_risk,
            churn_factors, segment, value_percentile, model_id, scored_at)
        SELECT s.customer_id, s.orders, round(s.total::numeric, 2),
               round((s.total / greatest(s.orders, 1))::numeric, 2), s.currency,
               s.first_order_at, s.last_order_at, f.p_alive, f.expected_purchases,
               round(f.expected_value::numeric, 2), f.churn_risk, {_FACTORS}, f.segment,
               f.value_percentile, $1, $2
          FROM unnest({unnest}) WITH ORDINALITY AS f({", ".join(names)}, idx)
          JOIN customer_stats s ON s.idx = f.idx
          {_FACTOR_WORDS}
         ORDER BY s.customer_id
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
        min_factor_weight,
        *(scores[name] for name in names),
        timeout=BULK_TIMEOUT,
    )
    await conn.execute(
        """
        DELETE FROM customer_profiles p
         WHERE NOT EXISTS (SELECT 1 FROM customer_stats s WHERE s.customer_id = p.customer_id)
        """,
        timeout=BULK_TIMEOUT,
    )
    # Every profile was just rewritten: the searches plan on the new values from now on, not
    # from autovacuum's next round.
    await conn.execute("ANALYZE customer_profiles", timeout=BULK_TIMEOUT)
