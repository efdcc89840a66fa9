"""The ticket page in a real browser, as a team uses it: two people on one ticket see each
other ("Ada Lovelace is viewing / replying"), a customer's new message appears without a
reload, a stale approval lands on the page with who sent it, and the page fits a desktop and a
phone."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from playwright.async_api import Page

from fte.auth import service
from tests import factories
from tests.browser import CheckedBrowser, chromium
from tests.conftest import make_settings, serve_app

PASSWORD = "a long password!"
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


async def signed_in(browser: CheckedBrowser, base: str, email: str) -> Page:
    page = await browser.new_page()
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{base}/console/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console")
    return page


async def team(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada Lovelace", "agent", PASSWORD)
        await service.add_user(conn, "bea@example.com", "Bea Smith", "agent", PASSWORD)


async def overflow(page: Page) -> int:
    """How far the page runs past the window's width (0: no horizontal scrolling)."""
    width: int = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return width


async def test_two_people_see_each_other_and_new_messages_arrive_live(
    db_url: str, pool: asyncpg.Pool, artifacts_dir: Path
) -> None:
    await team(pool)
    filed = await factories.ticket(
        pool, "My export keeps failing.", name="Sam Doe", subject="Export", thread="live-1"
    )
    url = f"/console/tickets/{filed.ticket_id}"
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        ada = await signed_in(browser, base, "ada@example.com")
        bea = await signed_in(browser, base, "bea@example.com")
        await ada.goto(base + url)
        await ada.wait_for_selector("#status-line")
        await bea.goto(base + url)
        await bea.wait_for_selector("#presence:has-text('Ada Lovelace is viewing')", timeout=15_000)
        await ada.wait_for_selector("#presence:has-text('Bea Smith is viewing')", timeout=15_000)

        await ada.fill("#reply-body", "Hi Sam, could you send me the file?")
        await bea.wait_for_selector(
            "#presence:has-text('Ada Lovelace is replying')", timeout=15_000
        )

        # The customer writes again: both open pages show it, and Ada keeps her words.
        await factories.ticket(
            pool, "Here is the error: E_TIMEOUT", name="Sam Doe", thread="live-1"
        )
        await bea.wait_for_selector("text=Here is the error: E_TIMEOUT", timeout=15_000)
        await ada.wait_for_selector("text=Here is the error: E_TIMEOUT", timeout=15_000)
        assert await ada.input_value("#reply-body") == "Hi Sam, could you send me the file?"
        assert "/console/tickets/" in bea.url and "?" not in bea.url  # never reloaded by hand

        assert await overflow(bea) <= 0
        await bea.screenshot(path=str(artifacts_dir / "console-ticket-desktop.png"), full_page=True)
        await bea.set_viewport_size(PHONE)
        await bea.reload()
        await bea.wait_for_selector("#status-line")
        assert await overflow(bea) <= 0, "the ticket page scrolls sideways on a phone"
        await bea.screenshot(path=str(artifacts_dir / "console-ticket-phone.png"), full_page=True)


async def test_approve_confirms_and_a_stale_second_approval_says_who_sent_it(
    db_url: str, pool: asyncpg.Pool, artifacts_dir: Path
) -> None:
    await team(pool)
    filed = await factories.ticket(pool, "How do I reset my password?", name="Sam Doe")
    draft = "Hi Sam,\n\nUse Settings > Security > Reset password."
    await factories.run(pool, filed, decision="draft", draft=draft)
    async with pool.acquire() as conn:
        # As approval mode leaves it: open, waiting for a person.
        await conn.execute("UPDATE tickets SET status = 'open' WHERE id = $1", filed.ticket_id)
    url = f"/console/tickets/{filed.ticket_id}"
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        ada = await signed_in(browser, base, "ada@example.com")
        bea = await signed_in(browser, base, "bea@example.com")
        for page in (ada, bea):
            await page.goto(base + url)
            assert await page.inner_text("#status-line") == "Waiting for approval"
            assert await page.input_value("#reply-body") == draft
        # Bea edits the draft meanwhile: her page keeps her words, so its form is stale.
        await bea.fill("#reply-body", draft + "\n\nAnything else?")
        await ada.click("text=Approve and send")
        await ada.wait_for_selector(".flash:has-text('Draft approved and sent.')")
        assert await ada.locator("text=Approve and send").count() == 0
        assert await ada.inner_text("#status-line") == "Waiting for the customer"

        await bea.click("text=Approve and send")
        await bea.wait_for_selector(".flash:has-text('Already sent by Ada Lovelace.')")
        assert bea.url.startswith(base + url)
        assert "Conflict" not in await bea.inner_text("body")
        await bea.screenshot(
            path=str(artifacts_dir / "console-ticket-approved.png"), full_page=True
        )
