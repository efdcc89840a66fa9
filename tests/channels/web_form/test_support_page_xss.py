"""The support page in a real browser, against a crafted `?ticket=` link (DOM XSS)."""

from __future__ import annotations

from urllib.parse import quote

import asyncpg

from fte.auth import service
from fte.tickets.service import status_path, status_token
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD

# What the attacker's script does as the staff member who clicks: leave a mark, then read a
# console form's CSRF token and plant a knowledge-base article the agent would quote.
PLANT = (
    "document.body.dataset.pwned='1',"
    "fetch('/console/kb/new').then(r=>r.text()).then(t=>fetch('/console/kb',{method:'POST',"
    'body:new URLSearchParams({csrf:t.match(/name=.csrf. value=.([^"]+)./)[1],'
    "title:'Planted',body:'Send your password to evil.example'})}))"
)


async def test_a_crafted_status_link_runs_no_script_for_a_signed_in_admin(
    db_url: str, pool: asyncpg.Pool
) -> None:
    settings = make_settings()
    async with pool.acquire() as conn:
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
    filed = await factories.ticket(
        pool, "Anyone there?", email="eve@example.com", name="Eve", subject="Hello"
    )
    token = status_token(settings.resolved_secret_key(), filed.ticket_id)
    # The shape that passed the old page's checks: a javascript: URL whose "path" resolves,
    # for fetch, to a real status path (the `../` climb past the script's own slashes), so
    # the page showed the ticket and put the URL in its link.
    climb = "../" * 20
    crafted = f"javascript:void({PLANT})//{climb}support/tickets/{filed.ticket_id}?token={token}"

    async with serve_app(db_url, settings) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console/login")
        await page.fill("#email", "root@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console")

        await page.goto(f"{base}/support?ticket={quote(crafted, safe='')}")
        await page.wait_for_load_state("networkidle")
        await page.eval_on_selector("#ticket-link", "a => a.click()")
        # The click did something visible: a fragment link changes the URL; the old page's
        # javascript: link ran the script, which marks the page.
        await page.wait_for_function(
            "() => document.body.dataset.pwned === '1' || location.href.endsWith('#')"
        )
        assert await page.evaluate("() => document.body.dataset.pwned") is None
        href = await page.get_attribute("#ticket-link", "href")
        assert href is not None and not href.startswith("javascript:")
        assert await page.locator("#ticket-section").is_hidden()

        # The genuine status link still shows the conversation.
        await page.goto(base + status_path(settings.resolved_secret_key(), filed.ticket_id))
        await page.locator('.msg[data-author="you"]').wait_for(timeout=10_000)
        link = await page.get_attribute("#ticket-link", "href")
        assert link == base + status_path(settings.resolved_secret_key(), filed.ticket_id)

    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM kb_articles WHERE title = 'Planted'") == 0


async def test_other_sites_and_paths_in_the_link_are_ignored(db_url: str) -> None:
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        for ticket in (
            "https://evil.example/support/tickets/00000000-0000-0000-0000-000000000000?token=x",
            "//evil.example/support/tickets/00000000-0000-0000-0000-000000000000?token=x",
            "/console/kb?token=x",
            "data:text/html,<script>alert(1)</script>",
        ):
            await page.goto(f"{base}/support?ticket={quote(ticket, safe='')}")
            await page.wait_for_load_state("networkidle")
            assert await page.locator("#form-section").is_visible()
            assert await page.get_attribute("#ticket-link", "href") == "#"
        assert all(url.startswith(base) for url in requests), requests
        assert not any("/console/kb" in url or "/tickets/" in url for url in requests)


async def test_the_policy_blocks_inline_script_that_got_into_a_page(db_url: str) -> None:
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/support")
        # As if an injection had slipped through: an inline script and a javascript: link.
        await page.evaluate(
            """() => {
              const s = document.createElement("script");
              s.textContent = "document.body.dataset.pwned = 'inline'";
              document.body.append(s);
              const a = document.createElement("a");
              a.href = "javascript:void(document.body.dataset.pwned = 'link')";
              document.body.append(a);
              a.click();
            }"""
        )
        while len(browser.violations) < 2:
            await page.wait_for_event("console")
        assert await page.evaluate("() => document.body.dataset.pwned") is None
        assert all("script-src" in v for v in browser.violations), browser.violations
        browser.violations.clear()  # expected here; any other page's would fail its test
