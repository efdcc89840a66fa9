"""Signing in to the console and calling the admin API, over real HTTP on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, csrf_of, sign_in


@pytest.fixture
async def console(db_url: str, pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada", "agent", PASSWORD)
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
    settings = make_settings(FTE_LOGIN_RATE_LIMIT="4")
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        yield client


async def test_console_pages_and_admin_api_need_a_sign_in(console: httpx.AsyncClient) -> None:
    page = await console.get("/console?status=escalated")
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console%3Fstatus%3Descalated"
    api = await console.get("/api/admin/dead-letters")
    assert api.status_code == 401 and "X-API-Key" in api.json()["error"]


async def test_sign_in_sets_a_safe_cookie_and_shows_escalated_tickets_first(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    for subject in ("Where is my invoice?", "Charged twice"):
        submitted = await console.post(
            "/support/submit",
            json={"name": "Sam", "email": "sam@example.com", "subject": subject,
                  "message": f"{subject} Please help."},
        )  # fmt: skip
        assert submitted.status_code == 201
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE tickets SET status = 'escalated', escalation_reason = 'refund' "
            "WHERE subject = 'Charged twice'"
        )

    signed = await sign_in(console, "ADA@example.com", next_path="/console")
    assert signed.status_code == 303 and signed.headers["location"] == "/console"
    cookie = signed.headers["set-cookie"].lower()
    assert "fte_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie

    inbox = await console.get("/console")
    assert inbox.status_code == 200
    assert inbox.text.index("Charged twice") < inbox.text.index("Where is my invoice?")
    assert '<span class="reason">refund</span>' in inbox.text


async def test_wrong_passwords_are_refused_then_rate_limited(console: httpx.AsyncClient) -> None:
    for _ in range(4):
        wrong = await sign_in(console, "ada@example.com", "not the password!")
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    limited = await sign_in(console, "ada@example.com")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # A page a person reads, not a bare status line.
    assert "<h1>Too Many Requests</h1>" in limited.text and "Try again in a minute" in limited.text
    # An unknown email is refused the same way (no account enumeration).
    unknown = await sign_in(console, "nobody@example.com")
    assert unknown.status_code in (401, 429) and "ada" not in unknown.text


async def test_a_login_post_without_the_form_s_token_is_refused(
    console: httpx.AsyncClient,
) -> None:
    forged = await console.post(
        "/console/login",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf": "guess"},
    )
    assert forged.status_code == 403
    assert "fte_session" not in forged.headers.get("set-cookie", "")


async def test_a_session_id_planted_before_sign_in_is_worthless(
    console: httpx.AsyncClient,
) -> None:
    console.cookies.set("fte_session", "attacker-chosen-token", domain=console.base_url.host)
    signed = await sign_in(console, "ada@example.com")
    assert signed.status_code == 303
    issued = console.cookies.get("fte_session")
    assert issued and issued != "attacker-chosen-token"
    async with httpx.AsyncClient(base_url=str(console.base_url)) as attacker:
        attacker.cookies.set("fte_session", "attacker-chosen-token")
        assert (await attacker.get("/console")).status_code == 303


@pytest.mark.parametrize(
    ("next_path", "lands_on"),
    [
        ("//evil.example/phish", "/console"),
        ("https://evil.example/", "/console"),
        ("/\\evil.example", "/console"),
        ("/console?status=open", "/console?status=open"),
    ],
)
async def test_no_open_redirect_after_sign_in(
    console: httpx.AsyncClient, next_path: str, lands_on: str
) -> None:
    signed = await sign_in(console, "ada@example.com", next_path=next_path)
    assert signed.headers["location"] == lands_on


async def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    console: httpx.AsyncClient,
) -> None:
    await sign_in(console, "ada@example.com")
    token = console.cookies.get("fte_session")
    inbox = await console.get("/console")
    assert (await console.post("/console/logout", data={})).status_code == 403
    out = await console.post("/console/logout", data={"csrf": csrf_of(inbox)})
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    async with httpx.AsyncClient(base_url=str(console.base_url)) as replay:
        replay.cookies.set("fte_session", token or "")
        assert (await replay.get("/console")).status_code == 303


async def test_admin_api_takes_admin_keys_and_admin_sessions_only(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        admin = await service.create_api_key(conn, "ops", "admin")
        agent = await service.create_api_key(conn, "bot", "agent")

    def listing(key: str) -> dict[str, str]:
        return {"X-API-Key": key}

    ok = await console.get("/api/admin/dead-letters", headers=listing(admin.key))
    assert ok.status_code == 200 and ok.json() == []
    assert (
        await console.get("/api/admin/dead-letters", headers=listing(agent.key))
    ).status_code == 403
    assert (
        await console.get("/api/admin/dead-letters", headers=listing(admin.key + "x"))
    ).status_code == 401
    async with pool.acquire() as conn:
        assert await service.revoke_api_key(conn, admin.id)
    assert (
        await console.get("/api/admin/dead-letters", headers=listing(admin.key))
    ).status_code == 401

    await sign_in(console, "ada@example.com")
    assert (await console.get("/api/admin/dead-letters")).status_code == 403
    await sign_in(console, "root@example.com")
    assert (await console.get("/api/admin/dead-letters")).status_code == 200
    # State changes with a session cookie need the CSRF header too.
    replay = await console.post("/api/admin/dead-letters/1/replay")
    assert replay.status_code == 403
    inbox = await console.get("/console")
    replay = await console.post(
        "/api/admin/dead-letters/1/replay", headers={"X-CSRF-Token": csrf_of(inbox)}
    )
    assert replay.status_code == 404


async def test_hostile_text_is_stored_and_shown_inert(
    console: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    hostile = "<script>alert(1)</script>'; DROP TABLE tickets; --"
    submitted = await console.post(
        "/support/submit",
        json={"name": "<img src=x onerror=alert(1)>", "email": "eve@example.com",
              "subject": hostile, "message": "x' OR '1'='1"},
    )  # fmt: skip
    assert submitted.status_code == 201
    await sign_in(console, "ada@example.com")
    inbox = await console.get("/console")
    assert "<script>alert(1)</script>" not in inbox.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in inbox.text
    assert "<img src=x" not in inbox.text
    found = await console.get("/console", params={"q": "x' OR '1'='1"})
    assert "&lt;script&gt;" in found.text
    # Read as SQL or as a LIKE pattern this would match every ticket; as words ("or", "2") no
    # ticket holds both.
    nothing = await console.get("/console", params={"q": "%' OR 2=2 --"})
    assert "No tickets." in nothing.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT subject FROM tickets") == hostile
