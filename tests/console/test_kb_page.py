"""The knowledge base and the dashboard panels in a real browser."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from fte.auth import service
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app

PASSWORD = "a long password!"


async def test_an_admin_writes_an_article_and_sees_it_embedded_live(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder, artifacts_dir: Path
) -> None:
    async with kb_pool.acquire() as conn:
        await service.add_user(conn, "grace@example.com", "Grace Hopper", "admin", PASSWORD)
    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="browser")
    async with serve_app(kb_db_url, settings) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console/kb")
        await page.fill("#email", "grace@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console/kb")
        assert await page.locator("#articles tbody tr").count() >= 30  # the demo KB

        await page.click("#new-article")
        await page.fill("input[name=title]", "Connecting a Zebra label printer")
        await page.fill(
            "textarea[name=body]",
            "Open Settings, then Devices, and pick the Zebra printer.\n\n"
            "The printer must be on the same network.",
        )
        await page.click("#article-form button")
        await page.wait_for_selector("#kb-status")
        assert await page.inner_text("#kb-status") == "pending"
        await page.screenshot(path=str(artifacts_dir / "console-kb-pending.png"), full_page=True)

        assert await worker.run_once() == 1  # the kb_embed job
        # The open page notices by itself: no reload.
        await page.wait_for_selector("#kb-status:text-is('done')", timeout=15_000)
        await page.screenshot(path=str(artifacts_dir / "console-kb-article.png"), full_page=True)

        await page.goto(f"{base}/console/kb")
        await page.fill("input[name=q]", "zebra printer")
        await page.click("form[role=search] button")
        rows = await page.locator("#articles tbody tr").all_inner_texts()
        assert "Connecting a Zebra label printer" in rows[0]
        await page.screenshot(path=str(artifacts_dir / "console-kb-search.png"), full_page=True)

        await page.goto(f"{base}/console/kb/not-an-article")
        assert "Not Found" in await page.inner_text("main")


async def test_the_dashboard_shows_gaps_breakers_and_dead_letters(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder, artifacts_dir: Path
) -> None:
    async with kb_pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada Lovelace", "agent", PASSWORD)
        await conn.execute(
            "INSERT INTO channel_health (channel, breaker, failures, last_error, worker) "
            "VALUES ('email', 'open', 5, 'SMTP 421 try later', 'w1')"
        )
        await conn.execute(
            "INSERT INTO dead_letters (topic, key, payload, error, attempts) "
            "VALUES ('deliver', 'k', '{}'::jsonb, 'channel whatsapp is not configured', 5)"
        )
    for i, text in enumerate(
        ["Where is your office in Lisbon? Can I visit it?", "Can I come to your Lisbon office?"]
    ):
        await factories.ticket(kb_pool, text, email=f"v{i}@example.com", name="Vi")
    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="browser")
    assert await worker.run_once() == 2
    async with serve_app(kb_db_url, settings) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console/dashboard")
        await page.fill("#email", "ada@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console/dashboard")
        gaps = await page.locator("#knowledge-gaps tr.gap").all_inner_texts()
        assert len(gaps) == 1 and gaps[0].startswith("2") and "Lisbon" in gaps[0]
        breakers = await page.inner_text("#breakers")
        assert "email" in breakers and "open" in breakers and "SMTP 421" in breakers
        assert "channel whatsapp is not configured" in await page.inner_text("#dead-letter-list")
        await page.screenshot(
            path=str(artifacts_dir / "console-dashboard-panels.png"), full_page=True
        )
