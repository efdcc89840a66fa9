"""The customer's page in a real browser, live: two contexts, the customer's page in one and a
person at the console in the other. The customer sees the person's reply without reloading,
writes back on the page, and rates the ticket once it is solved; at a phone's width too."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
from playwright.async_api import Page

from fte.auth import service
from fte.worker.auto_resolve import AutoResolver
from tests.browser import chromium
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD
from tests.fixtures.waiting import eventually

TIMEOUT = 15_000


async def _overflow(page: Page) -> int:
    """How far the page is wider than its viewport (0: no horizontal scrolling)."""
    width: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


async def _ticket_id(page: Page) -> uuid.UUID:
    link = parse_qs(urlsplit(page.url).query)["ticket"][0]
    return uuid.UUID(urlsplit(link).path.rsplit("/", 1)[1])


async def _staff_reply(staff: Page, base: str, ticket_id: uuid.UUID, text: str) -> None:
    await staff.goto(f"{base}/console/tickets/{ticket_id}")
    form = staff.locator('form[action$="/reply"]').first
    await form.locator("textarea[name=body]").fill(text)
    await form.locator("button[type=submit]").click()
    await staff.wait_for_load_state()


async def test_the_customers_page_is_a_live_conversation(
    db_url: str, pool: asyncpg.Pool, artifacts_dir: Path
) -> None:
    async with pool.acquire() as conn:
        await service.add_user(conn, "grace@example.com", "Grace", "agent", PASSWORD)
    settings = make_settings()
    async with serve_app(db_url, settings) as base, chromium() as browser:
        customer = await browser.new_page()
        await customer.goto(f"{base}/support")
        await customer.fill("#name", "Ada Lovelace")
        await customer.fill("#email", "ada@example.com")
        await customer.fill("#subject", "Parcel")
        await customer.fill("#message", "Where is my parcel?")
        await customer.click("#submit")
        status = customer.locator("#ticket-status")
        await status.filter(has_text="We're on it").wait_for(timeout=TIMEOUT)
        ticket_id = await _ticket_id(customer)

        staff = await browser.new_page()  # another context: another person, another browser
        await staff.goto(f"{base}/console/login")
        await staff.fill("#email", "grace@example.com")
        await staff.fill("#password", PASSWORD)
        await staff.click("button[type=submit]")
        await staff.wait_for_url(lambda url: "/login" not in url)
        await _staff_reply(staff, base, ticket_id, "It left our warehouse this morning.")

        # No reload: the open page picks it up.
        answer = customer.locator('.msg[data-author="support"]')
        await answer.filter(has_text="It left our warehouse").wait_for(timeout=TIMEOUT)
        await status.filter(has_text="Waiting for your reply").wait_for(timeout=TIMEOUT)
        await customer.screenshot(
            path=str(artifacts_dir / "support-live-reply.png"), full_page=True
        )

        # The customer writes back on the page; the person sees it on the same ticket.
        await customer.fill("#reply", "Thanks! Which carrier?")
        await customer.click("#reply-send")
        mine = customer.locator('.msg[data-author="you"]', has_text="Which carrier?")
        await mine.wait_for(timeout=TIMEOUT)
        await status.filter(has_text="We're on it").wait_for(timeout=TIMEOUT)
        assert await customer.locator("#reply").input_value() == ""
        await staff.goto(f"{base}/console/tickets/{ticket_id}")
        await staff.get_by_text("Thanks! Which carrier?").wait_for(timeout=TIMEOUT)

        # Answered, then nobody writes for FTE_AUTO_RESOLVE_HOURS: solved, and the page says so.
        await _staff_reply(staff, base, ticket_id, "DHL; the tracking number is in your email.")
        later = datetime.now(UTC) + timedelta(hours=settings.auto_resolve_hours + 1)
        assert await AutoResolver(pool, settings, clock=lambda: later).run_once() == 1
        await status.filter(has_text="Solved").wait_for(timeout=TIMEOUT)
        rating = customer.locator("#rating")
        await rating.wait_for(state="visible", timeout=TIMEOUT)

        # One click rates it; a comment can follow; rating again replaces the first.
        await customer.click('.score[data-score="4"]')
        await (
            customer.locator("#rating-thanks")
            .filter(has_text="Thank you")
            .wait_for(timeout=TIMEOUT)
        )

        def stored(expected: tuple[int, str | None]) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                async with pool.acquire() as conn:
                    row = await conn.fetchrow("SELECT score, comment FROM ticket_ratings")
                return row is not None and (row["score"], row["comment"]) == expected

            return check

        await eventually(stored((4, None)), within=15, what="rating 4")
        await customer.fill("#rating-comment", "Quick and clear")
        await customer.click("#rating-send")
        await eventually(stored((4, "Quick and clear")), within=15, what="the comment")
        await customer.click('.score[data-score="5"]')
        await eventually(stored((5, "Quick and clear")), within=15, what="rating 5")
        pressed = customer.locator('.score[aria-pressed="true"]')
        await pressed.filter(has_text="5").wait_for(timeout=TIMEOUT)
        await customer.screenshot(path=str(artifacts_dir / "support-solved.png"), full_page=True)
        page_text = await customer.locator("main").inner_text()
        assert "pending" not in page_text.lower() and "escalated" not in page_text.lower()

        # The same page at a phone's width: nothing runs off the side.
        await customer.set_viewport_size({"width": 390, "height": 844})
        await customer.reload()
        await status.filter(has_text="Solved").wait_for(timeout=TIMEOUT)
        await pressed.filter(has_text="5").wait_for(timeout=TIMEOUT)
        assert await customer.locator("#rating-comment").input_value() == "Quick and clear"
        assert await _overflow(customer) == 0
        await customer.screenshot(
            path=str(artifacts_dir / "support-solved-phone.png"), full_page=True
        )


async def test_the_form_and_the_reply_box_tie_plain_errors_to_their_fields_on_a_phone(
    db_url: str, artifacts_dir: Path
) -> None:
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.goto(f"{base}/support")
        assert await _overflow(page) == 0
        sizes = await page.eval_on_selector_all(
            "input, select, textarea",
            "els => els.map(e => parseFloat(getComputedStyle(e).fontSize))",
        )
        assert sizes and min(sizes) >= 16, sizes  # smaller, and phones zoom in

        await page.fill("#name", "Bo")
        await page.fill("#subject", "Hi")
        await page.fill("#message", "Question")
        await page.click("#submit")  # no email
        email_error = page.locator("#email-error")
        await email_error.filter(has_text="Please enter your email address").wait_for(
            timeout=TIMEOUT
        )
        email = page.locator("#email")
        assert await email.get_attribute("aria-invalid") == "true"
        assert await email.get_attribute("aria-describedby") == "email-error"
        assert await page.locator("#name").get_attribute("aria-invalid") is None
        await page.screenshot(path=str(artifacts_dir / "support-form-errors-phone.png"))

        await page.fill("#email", "bo@")
        await page.click("#submit")
        await email_error.filter(has_text="Please enter a valid email address").wait_for(
            timeout=TIMEOUT
        )
        await page.fill("#email", "bo@example.com")
        await page.click("#submit")
        await (
            page.locator("#ticket-status").filter(has_text="We're on it").wait_for(timeout=TIMEOUT)
        )
        assert await _overflow(page) == 0

        await page.fill("#reply", "   ")
        await page.click("#reply-send")
        reply_error = page.locator("#reply-error")
        await reply_error.filter(has_text="Please write your message").wait_for(timeout=TIMEOUT)
        reply = page.locator("#reply")
        assert await reply.get_attribute("aria-invalid") == "true"
        assert await reply.get_attribute("aria-describedby") == "reply-error"
        reply_size = await reply.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert reply_size >= 16

        # A wrong or cut-off link: the page says so in words, not a raw error.
        wrong = await browser.new_page()
        answer = await wrong.goto(f"{base}/support/tickets/{uuid.uuid4()}?token=nope")
        assert answer is not None and answer.status == 404
        await (
            wrong.locator("#form-error")
            .filter(has_text="We could not find this request")
            .wait_for(timeout=TIMEOUT)
        )
