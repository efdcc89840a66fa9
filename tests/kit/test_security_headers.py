"""Every response carries the security headers; private pages are never cached; HSTS only
over https. Over real HTTP against the running app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service
from fte.kit.security_headers import DOCS_POLICY, STRICT_POLICY
from fte.tickets.service import status_path
from tests import factories
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
async def staff(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with pool.acquire() as conn:
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        assert (await sign_in(client, "root@example.com")).status_code == 303
        yield client


def assert_guarded(r: httpx.Response, policy: str = STRICT_POLICY) -> None:
    assert r.headers["content-security-policy"] == policy, r.request.url
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in r.headers  # plain http


async def test_every_page_is_guarded_and_private_ones_are_not_cached(
    staff: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    filed = await factories.ticket(pool, "Hello", name="Sam", subject="Hi")
    status = status_path("test-secret", filed.ticket_id)
    private = [
        ("/console", HTML),
        ("/console/dashboard", HTML),
        ("/console/kb", HTML),
        (f"/console/tickets/{filed.ticket_id}", HTML),
        ("/console/no-such-page", HTML),
        (status, HTML),
        (status, {"Accept": "application/json"}),
    ]
    for path, headers in private:
        r = await staff.get(path, headers=headers)
        assert r.status_code in (200, 404), path
        assert_guarded(r)
        assert r.headers["cache-control"] == "no-store", path

    public = ["/support", "/support/static/support.js", "/console/static/console.css"]
    for path in public:
        r = await staff.get(path, headers=HTML)
        assert r.status_code == 200, path
        assert_guarded(r)
        assert r.headers.get("cache-control") != "no-store", path
    assert_guarded(await staff.get("/health"))  # JSON too

    signed_out = httpx.AsyncClient(base_url=str(staff.base_url))
    async with signed_out:
        login = await signed_out.get("/console/login")
        assert_guarded(login)
        assert login.headers["cache-control"] == "no-store"
        too_big = await signed_out.post("/support/submit", content=b"x" * 2_000_000)
        assert too_big.status_code == 413
        assert_guarded(too_big)

    # The API explorer loads Swagger UI from its CDN: its own, still framing-proof, policy.
    docs = await staff.get("/docs")
    assert_guarded(docs, DOCS_POLICY)
    assert "frame-ancestors 'none'" in DOCS_POLICY and "object-src 'none'" in DOCS_POLICY


async def test_hsts_only_over_https(db_url: str) -> None:
    async with (
        serve_app(db_url, make_settings(FTE_PUBLIC_URL="https://support.example")) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        r = await client.get("/support")
        assert r.headers["strict-transport-security"] == "max-age=31536000"
    async with (
        serve_app(db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        assert "strict-transport-security" not in (await client.get("/support")).headers
        # A TLS-terminating proxy on this machine (uvicorn trusts 127.0.0.1 by default).
        proxied = await client.get("/support", headers={"X-Forwarded-Proto": "https"})
        assert proxied.headers["strict-transport-security"] == "max-age=31536000"
