"""A customer's profile on the real database: found by any key they are known by, with what
they bought, what the model predicts and how their support has gone."""

from __future__ import annotations

import asyncpg

from fte.customers.profiles import find_profile, sentiment_trend
from tests import factories


async def test_a_customer_is_found_by_id_email_phone_or_external_id(pool: asyncpg.Pool) -> None:
    filed = await factories.ticket(pool, email="ana@example.com", phone=None)
    customer_id = filed.customer_id
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET external_id = 'CRM-7', phone = '+15550100' WHERE id = $1",
            customer_id,
        )
        await conn.execute(
            "INSERT INTO customer_identities (customer_id, kind, value) VALUES ($1, 'phone', $2)",
            customer_id,
            "+15550100",
        )
        found = [
            await find_profile(conn, key)
            for key in (str(customer_id), "ANA@example.com", "+15550100", "CRM-7")
        ]
        assert await find_profile(conn, "nobody@example.com") is None
    assert {p["id"] for p in found if p} == {str(customer_id)}
    assert found[0] is not None
    assert found[0]["purchases"] is None  # no orders scored yet
    assert found[0]["support"]["tickets_90d"] == 1


async def test_the_scored_profile_is_what_readers_see(pool: asyncpg.Pool) -> None:
    filed = await factories.ticket(pool, email="bo@example.com")
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO customer_profiles (customer_id, orders, lifetime_value, avg_order_value,
                currency, first_order_at, last_order_at, p_alive, churn_risk, churn_factors,
                segment, value_percentile)
            VALUES ($1, 40, 4000, 100, 'EUR', now() - interval '6 years',
                    now() - interval '200 days', 0.3, 0.7, $2, 'at_risk', 0.97)
            """,
            filed.customer_id,
            [{"factor": "quiet", "weight": 0.7, "detail": "200 days since the last order"}],
        )
        profile = await find_profile(conn, "bo@example.com")
    assert profile is not None
    assert profile["purchases"]["orders"] == 40
    assert profile["purchases"]["lifetime_value"] == 4000.0
    assert profile["purchases"]["days_since_last_order"] == 200
    assert profile["predictions"]["segment"] == "at_risk"
    assert profile["predictions"]["churn_factors"][0]["factor"] == "quiet"


def test_sentiment_trend_compares_older_and_newer_messages() -> None:
    assert sentiment_trend(None, 0.5) is None
    assert sentiment_trend(0.4, -0.3) == "worsening"
    assert sentiment_trend(-0.5, 0.1) == "improving"
    assert sentiment_trend(0.1, 0.0) == "steady"
