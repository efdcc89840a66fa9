"""The console's customers: search, filters, sorting and keyset pages over real HTTP, signed
in; a customer's page and the customer panel on the ticket page; all under the CSP."""

from __future__ import annotations

import re
import uuid

import asyncpg
import httpx

from fte.auth import service
from tests import factories
from tests.browser import chromium
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD


def names(page: httpx.Response) -> list[str]:
    """The customers listed, in order."""
    assert page.status_code == 200, page.text
    return re.findall(
        r'<tr class="customer">\s*<td><a href="/console/customers/[^"]+">([^<]+)</a>', page.text
    )


async def three_customers(pool: asyncpg.Pool) -> dict[str, uuid.UUID]:
    ana = await factories.customer(pool, "Ana Lima", email="ana@example.com")
    await factories.profile(
        pool, ana, lifetime_value=5000, value_percentile=0.97, churn_risk=0.2, segment="loyal"
    )
    bo = await factories.customer(pool, "Bo Berg", email="bo@example.net")
    await factories.profile(
        pool, bo, lifetime_value=300, value_percentile=0.2, churn_risk=0.9, segment="at_risk"
    )
    cy = await factories.customer(pool, "Cy Chen", email="cy@example.org")
    await factories.profile(
        pool, cy, lifetime_value=1200, value_percentile=0.6, churn_risk=0.5, segment="loyal"
    )
    async with pool.acquire() as conn:
        await conn.execute("UPDATE customers SET external_id = 'CRM-100' WHERE id = $1", ana)
    return {"ana": ana, "bo": bo, "cy": cy}


async def test_search_filters_and_sorting(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    await three_customers(kb_pool)
    page = await console.get("/console/customers")
    assert "<h1>Customers</h1>" in page.text
    for label in ("Search", "Segment", "Minimum value", "Minimum churn risk", "Sort by"):
        assert re.search(rf"<label>{label} <(input|select) name=", page.text), label
    assert names(page) == ["Ana Lima", "Cy Chen", "Bo Berg"]
    assert '<a href="/console/customers">Customers</a>' in (await console.get("/console")).text

    assert names(await console.get("/console/customers?sort=risk")) == [
        "Bo Berg",
        "Cy Chen",
        "Ana Lima",
    ]
    assert names(await console.get("/console/customers?q=ana")) == ["Ana Lima"]
    assert names(await console.get("/console/customers?q=CRM-100")) == ["Ana Lima"]
    assert names(await console.get("/console/customers?q=bo%40example")) == ["Bo Berg"]
    assert names(await console.get("/console/customers?q=CY%40EXAMPLE.ORG")) == ["Cy Chen"]
    assert names(await console.get("/console/customers?q=%25")) == []  # no wildcards
    loyal = await console.get("/console/customers?segment=loyal&min_value=1000&sort=value")
    assert names(loyal) == ["Ana Lima", "Cy Chen"]
    assert names(await console.get("/console/customers?min_risk=0.6")) == ["Bo Berg"]
    assert names(await console.get("/console/customers?q=cy&min_risk=0.6")) == []


async def test_last_contact_sorts_by_the_latest_ticket(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    await three_customers(kb_pool)
    await factories.ticket(kb_pool, "old question", email="bo@example.net")
    await factories.ticket(kb_pool, "a question", email="ana@example.com")
    await factories.ticket(kb_pool, "newest question", email="bo@example.net")
    await factories.ticket(kb_pool, "first contact", email="dee@example.com", name="Dee Dunn")
    async with kb_pool.acquire() as conn:  # an order the clock cannot blur
        for minutes, body in enumerate(
            ("first contact", "newest question", "a question", "old question")
        ):
            await conn.execute(
                "UPDATE tickets SET created_at = now() - make_interval(mins => $1) "
                "WHERE id = (SELECT ticket_id FROM messages WHERE body = $2)",
                minutes + 1,
                body,
            )
    shown = await console.get("/console/customers?sort=last_contact")
    assert names(shown) == ["Dee Dunn", "Bo Berg", "Ana Lima"]  # Cy never wrote
    assert names(await console.get("/console/customers?sort=last_contact&q=b")) == ["Bo Berg"]


async def test_pages_follow_one_another_by_cursor(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    for i in range(53):
        who = await factories.customer(kb_pool, f"Customer {i:02}", email=f"c{i}@example.com")
        # Ties on value: the cursor carries the id too, so no one is skipped or shown twice.
        await factories.profile(kb_pool, who, lifetime_value=1000 + (i // 2))
    first = await console.get("/console/customers?sort=value")
    shown = names(first)
    assert len(shown) == 50
    following = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert following is not None
    second = await console.get(following.group(1).replace("&amp;", "&"))
    rest = names(second)
    assert len(rest) == 3 and '<a rel="next"' not in second.text
    assert sorted(shown + rest) == sorted(f"Customer {i:02}" for i in range(53))


async def test_bad_input_is_a_422_naming_the_field(console: httpx.AsyncClient) -> None:
    for query, field in (
        ("min_risk=2", "min_risk"),
        ("min_value=lots", "min_value"),
        ("sort=age", "sort"),
        ("cursor=not-a-cursor", "cursor"),
    ):
        page = await console.get(f"/console/customers?{query}")
        assert page.status_code == 422, query
        assert f'<strong class="field">{field}</strong>' in page.text, page.text


async def test_the_customer_page_and_the_ticket_panel(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    ana = await factories.customer(kb_pool, "Ana Lima", email="ana@example.com")
    await factories.profile(
        kb_pool,
        ana,
        orders=41,
        lifetime_value=5230.5,
        value_percentile=0.97,
        churn_risk=0.82,
        churn_factors=[{"factor": "recency", "weight": 0.6, "detail": "no purchase in 95 days"}],
        segment="at_risk",
        days_since_last_order=95,
        plan="enterprise",
    )
    older = await factories.ticket(
        kb_pool, "Export stuck", email="ana@example.com", subject="Export"
    )
    filed = await factories.ticket(kb_pool, "Password?", email="ana@example.com", subject="Login")

    panel = (await console.get(f"/console/tickets/{filed.ticket_id}")).text
    for fact in (
        "5,230.50 USD",
        "(top 3% by value)",
        "<dd>41 ·",
        "(95 days ago)",
        "0.82 (high)",
        "<li>no purchase in 95 days</li>",
        "<dd>at_risk</dd>",
        "plan <strong>enterprise</strong>",
        "Support in 90 days: 2 tickets",
    ):
        assert fact in panel, fact
    assert (
        f'<a href="/console/tickets/{older.ticket_id}">#{older.ticket_number} Export</a>' in panel
    )
    assert f'href="/console/tickets/{filed.ticket_id}">#' not in panel  # not itself
    assert f'<a href="/console/customers/{ana}">Ana Lima</a>' in panel

    page = await console.get(f"/console/customers/{ana}")
    assert page.status_code == 200 and "<h1>Ana Lima</h1>" in page.text
    assert (
        f"#{filed.ticket_number} Login" in page.text
        and f"#{older.ticket_number} Export" in page.text
    )
    assert (await console.get(f"/console/customers/{uuid.uuid4()}")).status_code == 404


async def test_the_customer_pages_work_under_the_policy(db_url: str, pool: asyncpg.Pool) -> None:
    ids = await three_customers(pool)
    async with pool.acquire() as conn:
        await service.add_user(conn, "root@example.com", "Root", "admin", PASSWORD)
    async with serve_app(db_url, make_settings()) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/console/login")
        await page.fill("#email", "root@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base}/console")
        await page.click("text=Customers")
        await page.wait_for_url(f"{base}/console/customers")
        await page.fill("input[name=q]", "bo")
        await page.click("form.customer-filters button")
        await page.wait_for_url(re.compile(r".*q=bo.*"))
        await page.click("text=Bo Berg")
        await page.wait_for_url(f"{base}/console/customers/{ids['bo']}")
        await page.wait_for_selector("text=0.90 (high)")
