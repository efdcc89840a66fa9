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


async def _submit_from(base: str, source: str, forwarded_for: str | None) -> int:
    """Submit the form over a connection from `source` (any 127/8 address is this machine, so
    a "proxy" elsewhere than 127.0.0.1 can be played here)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(base_url=base, transport=transport, timeout=10) as client:
        message = f"Hello from {forwarded_for}"
        response = await client.post("/support/submit", json={**FORM, "message": message},
                                     headers=headers)  # fmt: skip
        return response.status_code


async def test_customers_behind_a_trusted_proxy_each_have_their_own_limit(db_url: str) -> None:
    # The proxy is not on 127.0.0.1 (an ingress controller, a Compose service): only
    # FTE_TRUSTED_PROXIES makes its X-Forwarded-For believed.
    settings = make_settings(FTE_FORM_RATE_LIMIT="2", FTE_TRUSTED_PROXIES="127.0.0.2/32")
    proxy = "127.0.0.2"
    async with serve_app(db_url, settings) as base:
        nina = [await _submit_from(base, proxy, "198.51.100.1") for _ in range(3)]
        assert nina == [201, 201, 429]
        # Another customer through the same proxy is not held to Nina's count.
        assert await _submit_from(base, proxy, "198.51.100.2") == 201
        # The proxy appends the address it saw: what the client wrote before it is not
        # believed, so Nina cannot reset her count by writing another address herself.
        assert await _submit_from(base, proxy, "203.0.113.50, 198.51.100.1") == 429


async def test_an_untrusted_peer_cannot_dodge_its_limit_with_x_forwarded_for(
    db_url: str,
) -> None:
    settings = make_settings(FTE_FORM_RATE_LIMIT="2", FTE_TRUSTED_PROXIES="")
    async with serve_app(db_url, settings) as base:
        statuses = [await _submit_from(base, "127.0.0.1", f"198.51.100.{i}") for i in range(1, 5)]
        assert statuses == [201, 201, 429, 429]
