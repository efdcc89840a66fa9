"""The console in a real browser at a desktop and a phone width, and with a keyboard: every
page fits the screen (nothing scrolls sideways), has one <h1>, inputs big enough that phones do
not zoom, sign-out on the page; tickets change in bulk; shortcuts move through the inbox."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page

from fte.auth import service
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app

PASSWORD = "a long password!"
WIDTHS = {"desktop": (1366, 800), "phone": (390, 844)}
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"
SMALLEST_INPUT = """
Math.min(...[...document.querySelectorAll('input:not([type=hidden]):not([type=checkbox]),'
  + 'select, textarea')].map(e => parseFloat(getComputedStyle(e).fontSize)), 99)
"""


async def _sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/console/login")
    await page.fill("#email", "ada@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/console")


async def _seed(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada Lovelace", "admin", PASSWORD)
        await service.add_user(conn, "bo@example.com", "Bo Chen", "agent", PASSWORD)
    subjects = [
        "My invoice for May shows a charge I do not recognise at all, please explain it",
        "Sync stopped",
        "Password reset email never arrives",
    ]
    for n, subject in enumerate(subjects):
        await factories.ticket(pool, f"{subject}.", email=f"c{n}@example.com", subject=subject)
    async with pool.acquire() as conn:
        ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM tickets ORDER BY number")]
        article = await conn.fetchval("SELECT id FROM kb_articles LIMIT 1")
    return [*ids, str(article) if article else ""]


@pytest.mark.parametrize("size", WIDTHS)
async def test_every_console_page_fits_the_screen_with_a_heading_and_sign_out(
    kb_db_url: str, kb_pool: asyncpg.Pool, artifacts_dir: Path, size: str
) -> None:
    ticket, *_, article = await _seed(kb_pool)
    pages = {
        "inbox": "/console",
        "ticket": f"/console/tickets/{ticket}",
        "dashboard": "/console/dashboard?period=90d",
        "knowledge-base": "/console/kb",
        "article": f"/console/kb/{article}",
    }
    width, height = WIDTHS[size]
    async with serve_app(kb_db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page(width, height)
        await _sign_in(page, base)
        for name, path in pages.items():
            await page.goto(base + path)
            await page.screenshot(path=str(artifacts_dir / f"{name}-{size}.png"), full_page=True)
            assert await page.evaluate(OVERFLOW) <= 0, f"{name} scrolls sideways at {width} px"
            assert await page.locator("h1").count() == 1, f"{name} has no single <h1>"
            assert await page.evaluate(SMALLEST_INPUT) >= 16, f"{name} has inputs under 16 px"
            assert await page.locator("header button", has_text="Sign out").count() == 1, name
            assert "<" not in await page.title(), f"{name}'s title leaks markup"


async def test_tickets_change_in_bulk_with_a_confirmation(
    kb_db_url: str, kb_pool: asyncpg.Pool
) -> None:
    first, second, third, _ = await _seed(kb_pool)
    async with serve_app(kb_db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page(390, 844)
        await _sign_in(page, base)
        for ticket in (first, third):
            await page.check(f"input[name=ticket][value='{ticket}']")
        await page.wait_for_selector("text=2 tickets ticked.")
        await page.select_option("#bulk-action", "priority")
        await page.select_option("#bulk-value", "urgent")
        await page.click("text=Apply to ticked")
        notice = await page.wait_for_selector(".flash")
        assert await notice.inner_text() == "Changed 2 tickets."

        await page.check(f"input[name=ticket][value='{second}']")
        await page.select_option("#bulk-action", "assign")
        await page.select_option("#bulk-value", label="Bo Chen")
        await page.click("text=Apply to ticked")
        await page.wait_for_selector("text=Changed 1 ticket.")
    async with kb_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT t.id::text, t.priority, u.name FROM tickets t "
            "LEFT JOIN users u ON u.id = t.assignee_id ORDER BY t.number"
        )
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action IN ('ticket.change', 'ticket.assign')"
        )
    assert [(r["priority"], r["name"]) for r in rows] == [
        ("urgent", None),
        ("medium", "Bo Chen"),
        ("urgent", None),
    ]
    assert audited == 3


async def test_keyboard_shortcuts_move_through_the_inbox_and_list_themselves(
    kb_db_url: str, kb_pool: asyncpg.Pool
) -> None:
    await _seed(kb_pool)
    async with serve_app(kb_db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await _sign_in(page, base)
        await page.keyboard.press("?")
        overlay = page.locator("dialog#shortcuts")
        await overlay.wait_for(state="visible")
        listed = await overlay.inner_text()
        assert "Next ticket" in listed and "Go to the dashboard" in listed
        await page.keyboard.press("Escape")
        await overlay.wait_for(state="hidden")

        await page.keyboard.press("/")
        assert await page.evaluate("document.activeElement.name") == "q"
        await page.keyboard.press("Escape")
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        current = page.locator("tr.current a")
        subject = await current.inner_text()
        await page.keyboard.press("o")
        await page.wait_for_url(f"{base}/console/tickets/**")
        assert subject in await page.title()
        await page.keyboard.press("g")
        await page.keyboard.press("d")
        await page.wait_for_url(f"{base}/console/dashboard")
