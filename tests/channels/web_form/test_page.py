"""The web form in a real browser: a customer asks and sees the answer arrive."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests.browser import chromium
from tests.conftest import make_settings, serve_app


@pytest.fixture
async def site(kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder) -> AsyncIterator[str]:
    """The API and a worker on a database holding the demo knowledge base."""
    settings = make_settings(FTE_WORKER_POLL_SECONDS="0.2")
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="page")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, kb_db_url))
    try:
        async with serve_app(kb_db_url, settings) as base:
            yield base
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_customer_submits_the_form_and_sees_the_answer(
    site: str, artifacts_dir: Path
) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(site + "/support")
        await page.fill("#name", "Ada Lovelace")
        await page.fill("#email", "ada@example.com")
        await page.fill("#subject", "Two-factor")
        await page.fill("#message", "How do I turn on two-factor authentication for my account?")
        await page.screenshot(path=str(artifacts_dir / "support-form.png"), full_page=True)
        await page.click("#submit")

        reply = page.locator('.msg[data-author="support"]')
        await reply.wait_for(timeout=30_000)
        text = await reply.inner_text()
        assert "Hi Ada," in text
        assert "Source: Setting up two-factor authentication" in text
        assert await page.locator("#ticket-status").inner_text() == "Waiting for your reply"
        await page.screenshot(path=str(artifacts_dir / "support-reply.png"), full_page=True)

        # The status link works on its own, later, in another tab.
        link = await page.locator("#ticket-link").get_attribute("href")
        assert link is not None
        later = await browser.new_page()
        await later.goto(link.replace("http://testserver", site))
        await later.locator('.msg[data-author="support"]').wait_for(timeout=10_000)


async def test_the_form_shows_each_invalid_field(site: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(site + "/support")
        await page.fill("#name", "Bo")
        await page.fill("#email", "not-an-email")
        await page.fill("#subject", "Hi")
        await page.fill("#message", "Question")
        await page.click("#submit")
        error = page.locator('.error[data-for="email"]')
        await error.filter(has_text="email").wait_for(timeout=10_000)
        assert await page.locator('.error[data-for="name"]').inner_text() == ""
        assert await page.locator("#ticket-section").is_hidden()
