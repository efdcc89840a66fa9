"""The console's behaviour after its inline script and styles moved to files, in a real
browser under the Content-Security-Policy (any violation fails the test: tests/browser.py)."""

from __future__ import annotations

import asyncpg
from playwright.async_api import Dialog, Page

from fte.auth import service
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD


async def _header_background(page: Page) -> str:
    return str(await page.eval_on_selector("header", "h => getComputedStyle(h).backgroundColor"))


async def test_every_console_page_works_under_the_policy(db_url: str, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
    filed = await factories.ticket(pool, "Please send it.", name="Sam", subject="Invoice copy")

    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console/login")
        await page.fill("#email", "root@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console")
        # The stylesheet is a file now, and it applies.
        assert await _header_background(page) == "rgb(29, 35, 48)"
        assert await page.eval_on_selector("header nav a", "a => getComputedStyle(a).color") == (
            "rgb(255, 255, 255)"
        )
        assert await page.title() == "Inbox · Customer Success FTE"

        # Changing the dashboard's period submits the form (was an inline onchange).
        await page.goto(f"{base}/console/dashboard")
        await page.select_option("select[name=period]", "30d")
        await page.wait_for_url(f"{base}/console/dashboard?period=30d")

        await page.goto(f"{base}/console/tickets/{filed.ticket_id}")
        await page.wait_for_selector("text=Please send it.")
        await page.goto(f"{base}/console/kb/new")
        await page.fill("input[name=title]", "Invoices")
        await page.fill("textarea[name=body]", "Invoices are under Billing.")
        await page.click("#article-form button")
        await page.wait_for_selector("#delete-article")
        article_url = page.url

        # Deleting asks first (was an inline onsubmit): No keeps the article, Yes deletes it.
        answers: list[str] = []

        async def answer(dialog: Dialog) -> None:
            answers.append(dialog.message)
            await (dialog.dismiss() if len(answers) == 1 else dialog.accept())

        page.on("dialog", answer)
        await page.click("#delete-article")
        assert answers == ["Delete this article?"] and page.url == article_url
        await page.wait_for_selector("#delete-article")
        await page.click("#delete-article")
        await page.wait_for_url(f"{base}/console/kb**")
        assert page.url != article_url and len(answers) == 2

        await page.goto(f"{base}/console/no-such-page")
        assert "Not Found" in await page.inner_text("main")
        assert await _header_background(page) == "rgb(29, 35, 48)"

    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM kb_articles WHERE title = 'Invoices'") == 0
