"""Per-client-IP limits on the web form and the provider webhooks: 429 with Retry-After."""

from __future__ import annotations

import asyncpg
import httpx

from tests.conftest import make_settings, serve_app

FORM = {"name": "Sam", "email": "sam@example.com", "subject": "Hi", "message": "Hello"}


async def test_the_form_answers_429_past_its_limit_per_client_ip(
    db_url: str, pool: asyncpg.Pool
) -> None:
    settings = make_settings(FTE_FORM_RATE_LIMIT="2")
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        first = [
            await client.post("/support/submit", json={**FORM, "message": f"Hello {i}"})
            for i in range(2)
        ]
        assert [r.status_code for r in first] == [201, 201]
        refused = await client.post("/support/submit", json=FORM)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["error"] == "too many requests"
        # Another client (behind the trusted local proxy) has its own allowance.
        other = await client.post(
            "/support/submit", json=FORM, headers={"X-Forwarded-For": "203.0.113.7"}
        )
        assert other.status_code == 201
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 3  # nothing half-written


async def test_webhooks_share_a_per_ip_limit_that_can_be_turned_off(db_url: str) -> None:
    async with (
        serve_app(db_url, make_settings(FTE_WEBHOOK_RATE_LIMIT="1")) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        first = await client.post("/whatsapp/webhook", content=b"{}")
        assert first.status_code != 429  # refused for its signature, not its rate
        for path in ("/whatsapp/webhook", "/chatwoot/webhook"):  # one allowance for both
            refused = await client.post(path, content=b"{}")
            assert refused.status_code == 429, path
            assert int(refused.headers["Retry-After"]) >= 1
    async with (
        serve_app(db_url, make_settings(FTE_WEBHOOK_RATE_LIMIT="0")) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        statuses = {(await client.post("/chatwoot/webhook", content=b"{}")).status_code
                    for _ in range(5)}  # fmt: skip
        assert 429 not in statuses
