"""Rescoring on the real database: orders in, every profile out with its predictions,
segment and churn factors, as the profile's readers see it."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import asyncpg
import numpy as np

from fte.customers.profiles import find_profile
from fte.customers.scoring import MIN_REPEAT_BUYERS, rescore

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


async def _customer(conn: asyncpg.Connection, name: str) -> uuid.UUID:
    customer_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO customers (name, external_id) VALUES ($1, $1) RETURNING id", name
    )
    return customer_id


async def _orders(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    days_ago: list[float],
    amount: float = 50.0,
    status: str | None = None,
) -> None:
    await conn.copy_records_to_table(
        "orders",
        records=[
            (
                f"{customer_id}-{i}",
                customer_id,
                Decimal(str(amount)),
                "EUR",
                NOW - dt.timedelta(days=ago),
                status,
                "import",
            )
            for i, ago in enumerate(days_ago)
        ],
        columns=("order_id", "customer_id", "amount", "currency", "ordered_at", "status", "source"),
    )


async def _named(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    """Customers whose scores a person can predict, each known by their external id."""
    ids = {name: await _customer(conn, name) for name in ("regular", "quiet", "once", "new")}
    await _orders(conn, ids["regular"], [5.0 + 30 * k for k in range(24)], amount=80)
    await _orders(conn, ids["quiet"], [300.0 + 30 * k for k in range(15)])
    await _orders(conn, ids["once"], [400.0])
    await _orders(conn, ids["new"], [10.0])
    refunded = await _customer(conn, "refunded")
    await _orders(conn, refunded, [20.0, 50.0], status="Refunded")
    return ids


async def _crowd(conn: asyncpg.Connection, customers: int, seed: int = 3) -> None:
    """Customers buying as BG/NBD says they do, enough for the models to fit."""
    rng = np.random.default_rng(seed)
    for n in range(customers):
        customer_id = await _customer(conn, f"crowd-{n}")
        first = float(rng.uniform(100, 700))
        rate, dropout = rng.gamma(1.0, 1 / 40), rng.beta(1.0, 4.0)
        days, t = [first], first
        while True:
            t -= rng.exponential(1 / rate)
            if t <= 0:
                break
            days.append(t)
            if rng.random() < dropout:
                break
        await _orders(conn, customer_id, days, amount=float(rng.uniform(10, 200)))


async def _profiles(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT c.external_id, p.* FROM customer_profiles p "
        "JOIN customers c ON c.id = p.customer_id"
    )
    return {row["external_id"]: row for row in rows}


async def test_orders_in_profiles_out_with_predictions_segments_and_factors(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        ids = await _named(conn)
        await _crowd(conn, 60)
        # A customer merged into `regular` brings their order along.
        twin = await _customer(conn, "twin")
        await _orders(conn, twin, [1.0], amount=80)
        await conn.execute(
            "UPDATE customers SET merged_into = $1 WHERE id = $2", ids["regular"], twin
        )

    result = await rescore(pool, now=NOW)

    assert result.customers == 64 and result.note is None
    async with pool.acquire() as conn:
        profiles = await _profiles(conn)
        model = await conn.fetchrow("SELECT * FROM clv_models WHERE id = $1", result.model_id)
        shown = await find_profile(conn, "quiet")
    assert "refunded" not in profiles and "twin" not in profiles
    assert len(profiles) == 64
    assert model["customers"] == 64 and model["note"] is None and model["seconds"] > 0
    assert {"r", "alpha", "a", "b", "p", "q", "v"} <= set(model["params"])

    regular, quiet, once, new = (profiles[k] for k in ("regular", "quiet", "once", "new"))
    assert regular["orders"] == 25 and regular["lifetime_value"] == Decimal("2000.00")
    assert regular["avg_order_value"] == Decimal("80.00") and regular["currency"] == "EUR"
    assert regular["p_alive"] > 0.9 > 0.3 > quiet["p_alive"]
    assert regular["churn_risk"] < quiet["churn_risk"]
    assert regular["expected_purchases_90d"] > 2 and regular["expected_value_90d"] > 100
    assert quiet["expected_purchases_90d"] < 0.5
    assert regular["segment"] == "champion" and regular["value_percentile"] >= 0.95
    assert quiet["segment"] == "lost"
    assert once["segment"] == "one_time" and once["p_alive"] == 1.0
    assert new["segment"] == "new"
    assert all(0 <= p["churn_risk"] <= 1 and 0 <= p["p_alive"] <= 1 for p in profiles.values())
    assert {p["segment"] for p in profiles.values()} <= {
        "new",
        "one_time",
        "lost",
        "at_risk",
        "champion",
        "loyal",
    }

    top = quiet["churn_factors"][0]
    assert top["factor"] == "gone quiet" and top["weight"] > 0.5
    assert top["detail"] == "quiet for 300 days, 10× their usual gap of 30 days"
    assert once["churn_factors"][0]["factor"] == "no repeat purchase"
    # What every reader (API, console, agent) shows comes from these rows.
    assert shown is not None and shown["predictions"]["segment"] == "lost"
    assert shown["predictions"]["churn_factors"][0]["factor"] == "gone quiet"
    assert shown["purchases"]["days_since_last_order"] == 300


async def test_rescoring_twice_gives_the_same_profiles(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _named(conn)
        await _crowd(conn, 40, seed=5)
    first = await rescore(pool, now=NOW)
    async with pool.acquire() as conn:
        before = await _profiles(conn)
    second = await rescore(pool, now=NOW)
    async with pool.acquire() as conn:
        after = await _profiles(conn)
        models = await conn.fetchval("SELECT count(*) FROM clv_models")
    assert second.model_id != first.model_id and models == 2
    assert second.customers == first.customers == len(after) == len(before)

    def scores(row: asyncpg.Record) -> dict[str, object]:
        return {k: v for k, v in dict(row).items() if k != "model_id"}

    assert {k: scores(v) for k, v in after.items()} == {k: scores(v) for k, v in before.items()}
    assert {v["model_id"] for v in after.values()} == {second.model_id}


async def test_too_little_data_falls_back_to_simple_estimates(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _named(conn)
    result = await rescore(pool, now=NOW)
    assert result.customers == 4
    assert result.note is not None and result.note.startswith("simple estimates")
    assert f"fewer than the {MIN_REPEAT_BUYERS}" in result.note
    async with pool.acquire() as conn:
        profiles = await _profiles(conn)
        model = await conn.fetchrow("SELECT params, note FROM clv_models")
    assert model["note"] == result.note and model["params"]["method"] == "simple"
    assert profiles["regular"]["p_alive"] == 1.0 and profiles["quiet"]["p_alive"] < 0.01
    assert profiles["regular"]["expected_purchases_90d"] > 2
    assert profiles["quiet"]["segment"] == "lost" and profiles["new"]["segment"] == "new"
    assert profiles["quiet"]["churn_factors"][0]["factor"] == "gone quiet"


async def test_a_profile_whose_orders_are_gone_is_removed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        ids = await _named(conn)
    await rescore(pool, now=NOW)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE orders SET status = 'cancelled' WHERE customer_id = $1", ids["new"]
        )
    result = await rescore(pool, now=NOW)
    async with pool.acquire() as conn:
        profiles = await _profiles(conn)
    assert result.customers == 3 and "new" not in profiles


async def test_a_customer_whose_chance_of_being_active_vanishes_is_scored(
    pool: asyncpg.Pool,
) -> None:
    # Sixty orders a day apart, then years of silence: P(alive) is far below the smallest
    # number a `real` column holds (PostgreSQL refused it: "value out of range: underflow",
    # and the whole rescoring failed).
    async with pool.acquire() as conn:
        await _named(conn)
        await _crowd(conn, 60)
        gone = await _customer(conn, "gone")
        await _orders(conn, gone, [1500.0 + k for k in range(60)])
    result = await rescore(pool, now=NOW)
    assert result.note is None  # the fitted model, not the simple fallback
    async with pool.acquire() as conn:
        profiles = await _profiles(conn)
    assert profiles["gone"]["p_alive"] == 0.0
    assert profiles["gone"]["segment"] == "lost"
    assert profiles["gone"]["churn_risk"] == 1.0
    async with pool.acquire() as conn:
        # Every profile rewritten: the searches plan on statistics of the new profiles.
        planned = await conn.fetchval(
            "SELECT reltuples FROM pg_class WHERE relname = 'customer_profiles'"
        )
    assert planned == len(profiles)
