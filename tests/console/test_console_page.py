"""The console in a real browser: an agent signs in and finds the escalated ticket on top."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from fte.auth import service
from fte.channels.registry import build_registry
from fte.worker.queue_worker import DeliveryWorker
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app


async def test_an_agent_signs_in_and_sees_the_escalated_ticket_first(
    db_url: str, pool: asyncpg.Pool, artifacts_dir: Path
) -> None:
    async with pool.acquire() as conn:
        await service.add_user(conn, "ada@example.com", "Ada Lovelace", "agent", "a long password!")
    for subject in ("Invoice copy", "Cancel my account now"):
        await factories.ticket(pool, f"{subject}, please.", name="Sam Doe", subject=subject)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE tickets SET status = 'escalated', escalation_reason = 'human_requested' "
            "WHERE subject = 'Cancel my account now'"
        )

    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console")
        assert "/console/login" in page.url  # no session: sent to sign in
        await page.fill("#email", "ada@example.com")
        await page.fill("#password", "a long password!")
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console")
        rows = await page.locator("tbody tr").all_inner_texts()
        assert "Cancel my account now" in rows[0] and "human_requested" in rows[0]
        assert "Invoice copy" in rows[1]
        assert "Ada Lovelace" in await page.inner_text("header")
        await page.screenshot(path=str(artifacts_dir / "console-inbox.png"), full_page=True)

        # A new ticket shows up on the open page, without a reload.
        await factories.ticket(
            pool, "Hello?", email="kim@example.com", name="Kim", subject="Arrived while I watched"
        )
        await page.wait_for_selector("text=Arrived while I watched", timeout=15_000)

        await page.click("tbody tr >> nth=0 >> a")
        await page.wait_for_selector("text=Conversation")
        assert "Cancel my account now, please." in await page.inner_text("main")

        # Reply as a person: on the web form, stored is delivered (the customer's status page
        # shows it), so the page shows it sent with no delivery job to wait for.
        await page.fill(
            "form.reply textarea", "Done: your account is cancelled. Sorry to see you go."
        )
        await page.click("form.reply button")
        await page.wait_for_selector("text=Done: your account is cancelled.")
        settings = make_settings()
        assert await DeliveryWorker(pool, settings, build_registry(settings)).run_once() == 0
        await page.reload()
        outbound = page.locator("article.message.outbound")
        assert "sent" in await outbound.locator(".meta").inner_text()
        await page.select_option("select[name=status]", "resolved")
        await page.click("form.change button")
        await page.wait_for_selector("span.status.resolved")
        await page.screenshot(path=str(artifacts_dir / "console-ticket.png"), full_page=True)
        await page.click("header a")
        await page.click("text=Dashboard")
        await page.wait_for_selector("figure[data-chart='Tickets by channel'] rect.bar")
        assert await page.inner_text("#tickets") == "3"
        # Resolved by a person with no answer from the agent: not the AI's.
        assert await page.inner_text("#ai-resolution") == "0%"
        assert await page.locator("figure[data-chart='Tickets per day'] rect.bar").count() >= 1
        await page.screenshot(path=str(artifacts_dir / "console-dashboard.png"), full_page=True)
        await page.click("header a")

        await page.click("header button")
        await page.wait_for_url(f"{base}/console/login")
        await page.goto(f"{base}/console")
        assert "/console/login" in page.url
