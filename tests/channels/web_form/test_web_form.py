"""The web form over real HTTP: what a customer and their browser see."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from fte.db import transaction
from fte.tickets import repository as tickets
from tests.fixtures.db import row_counts

FORM = {
    "name": "Ada Lovelace",
    "email": "Ada@Example.com",
    "subject": "Cannot sign in",
    "message": "I forgot my password, how do I reset it?",
}


async def test_submit_files_everything_in_one_go_and_returns_a_status_link(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    response = await client.post(
        "/support/submit", json={**FORM, "priority": "high", "category": "account"}
    )
    assert response.status_code == 201
    receipt = response.json()
    assert receipt["duplicate"] is False
    assert receipt["status_url"].startswith(
        f"http://testserver/support/tickets/{receipt['ticket_id']}?token="
    )
    counts = await row_counts(pool)
    assert counts | {"agent_runs": 0, "dead_letters": 0} == {
        "customers": 1,
        "customer_identities": 1,
        "conversations": 1,
        "tickets": 1,
        "messages": 1,
        "outbox": 1,
        "agent_runs": 0,
        "dead_letters": 0,
    }
    async with pool.acquire() as conn:
        ticket = await conn.fetchrow("SELECT * FROM tickets")
        identity = await conn.fetchrow("SELECT * FROM customer_identities")
    assert (ticket["status"], ticket["priority"], ticket["category"], ticket["channel"]) == (
        "open",
        "high",
        "account",
        "web_form",
    )
    # The form's email is typed by whoever fills it in: kept as the customer's contact, never
    # the identity that finds a customer (issue 17, item 3).
    assert identity["kind"] == "web_form"
    async with pool.acquire() as conn:
        customer = await conn.fetchrow("SELECT name, email FROM customers")
    assert (customer["name"], customer["email"]) == ("Ada Lovelace", "ada@example.com")

    path = receipt["status_url"].removeprefix("http://testserver")
    status = await client.get(path)
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "open" and body["number"] == receipt["ticket_number"]
    assert [m["body"] for m in body["messages"]] == [FORM["message"]]


async def test_the_same_email_typed_twice_is_not_proof_of_one_customer(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    first = await client.post("/support/submit", json=FORM)
    second = await client.post(
        "/support/submit", json={**FORM, "email": "ada@example.COM", "subject": "Another question"}
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["ticket_id"] != second.json()["ticket_id"]
    counts = await row_counts(pool)
    # Anyone can type an address: an operator merges the two when they are one person.
    assert (counts["customers"], counts["customer_identities"], counts["tickets"]) == (2, 2, 2)


async def test_a_resubmission_with_the_same_key_is_the_same_ticket(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    key = str(uuid.uuid4())
    responses = await asyncio.gather(
        *[
            client.post("/support/submit", json=FORM, headers={"Idempotency-Key": key})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["ticket_id"] for r in responses}) == 1
    assert len({r.json()["status_url"] for r in responses}) == 1
    counts = await row_counts(pool)
    assert (counts["tickets"], counts["messages"], counts["outbox"]) == (1, 1, 1)

    # The same key from another customer is another request, not a peek at this one.
    other = await client.post(
        "/support/submit",
        json={**FORM, "email": "eve@example.com"},
        headers={"Idempotency-Key": key},
    )
    assert other.status_code == 201
    assert other.json()["ticket_id"] != responses[0].json()["ticket_id"]


async def test_a_key_reused_with_another_body_is_a_422_without_a_status_link(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    headers = {"Idempotency-Key": "order-1"}  # guessable, as keys often are
    first = await client.post("/support/submit", json=FORM, headers=headers)
    assert first.status_code == 201
    # The same form again, spelled differently (key order, case, spaces): the first result.
    same = {k: FORM[k] for k in reversed(FORM)} | {
        "email": " ADA@example.com",
        "name": "Ada Lovelace ",
    }
    again = await client.post("/support/submit", json=same, headers=headers)
    assert again.status_code == 200 and again.json() == {**first.json(), "duplicate": True}
    # Someone who knows the address and guesses the key, asking something else: no link to
    # the first conversation, and nothing filed.
    probe = await client.post(
        "/support/submit",
        json={**FORM, "message": "Please show me my earlier tickets"},
        headers=headers,
    )
    assert probe.status_code == 422
    body = probe.json()
    assert body["detail"][0]["field"] == "Idempotency-Key"
    assert "status_url" not in probe.text and first.json()["ticket_id"] not in probe.text
    counts = await row_counts(pool)
    assert (counts["tickets"], counts["messages"]) == (1, 1)


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"email": "not-an-email"}, {"email"}),
        ({"email": "ada@"}, {"email"}),
        ({"name": "   "}, {"name"}),
        ({"message": ""}, {"message"}),
        ({"subject": "x" * 301}, {"subject"}),
        ({"priority": "yesterday"}, {"priority"}),
        ({"name": None, "email": "nope"}, {"name", "email"}),
        ({"unexpected": "field"}, {"unexpected"}),
    ],
)
async def test_invalid_fields_are_named_and_nothing_is_written(
    client: httpx.AsyncClient, pool: asyncpg.Pool, change: dict[str, object], fields: set[str]
) -> None:
    response = await client.post("/support/submit", json={**FORM, **change})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid request"
    assert {item["field"] for item in body["detail"]} == fields
    assert all(item["reason"] for item in body["detail"])
    assert set((await row_counts(pool)).values()) == {0}


async def test_malformed_json_is_a_422_not_a_500(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    response = await client.post(
        "/support/submit", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert set((await row_counts(pool)).values()) == {0}


async def test_oversized_bodies_are_413_and_nothing_is_written(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    huge = {**FORM, "message": "x" * 70_000}
    response = await client.post("/support/submit", json=huge)
    assert response.status_code == 413
    assert response.json()["detail"]["max_bytes"] == 65_536

    async def chunks():  # no Content-Length: the limit holds for streamed bodies too
        for _ in range(20):
            yield b"x" * 8192

    streamed = await client.post(
        "/support/submit", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert set((await row_counts(pool)).values()) == {0}


async def test_a_long_message_within_the_limit_is_a_clear_422(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    response = await client.post("/support/submit", json={**FORM, "message": "y" * 20_001})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "message"


async def test_a_wrong_token_or_unknown_ticket_is_404(client: httpx.AsyncClient) -> None:
    receipt = (await client.post("/support/submit", json=FORM)).json()
    ticket_id = receipt["ticket_id"]
    assert (await client.get(f"/support/tickets/{ticket_id}?token=guess")).status_code == 404
    token = receipt["status_url"].split("token=")[1]
    other = uuid.uuid4()
    assert (await client.get(f"/support/tickets/{other}?token={token}")).status_code == 404
    assert (await client.get(f"/support/tickets/{ticket_id}")).status_code == 422


async def test_the_form_page_and_status_page_are_html_for_browsers(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/support")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="support-form"' in page.text
    receipt = (await client.post("/support/submit", json=FORM)).json()
    path = receipt["status_url"].removeprefix("http://testserver")
    html = await client.get(path, headers={"accept": "text/html,application/xhtml+xml"})
    assert "text/html" in html.headers["content-type"]


async def test_health_reports_database_queue_and_channels(client: httpx.AsyncClient) -> None:
    await client.post("/support/submit", json=FORM)
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "active"
    assert body["queue"]["depth"] == 1 and body["queue"]["oldest_age_seconds"] >= 0
    assert body["channels"]["web_form"] == "active"
    assert body["pool"]["max"] == 10 and 0 <= body["pool"]["in_use"] <= 10


async def test_the_status_page_reads_status_and_messages_from_one_snapshot(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """An agent's outcome (reply + status) committed while the page is being read shows
    whole or not at all: never the reply beside the status from before it."""
    receipt = (await client.post("/support/submit", json=FORM)).json()
    ticket_id = uuid.UUID(receipt["ticket_id"])
    async with transaction(pool, snapshot=True) as reader:
        before = await tickets.get_ticket(reader, ticket_id)
        async with transaction(pool) as writer:  # the agent commits meanwhile
            await writer.execute(
                "INSERT INTO messages"
                " (conversation_id, ticket_id, channel, direction, author, body)"
                " SELECT conversation_id, id, channel, 'outbound', 'agent',"
                " 'A member of our support team will reply.' FROM tickets WHERE id = $1",
                ticket_id,
            )
            await writer.execute("UPDATE tickets SET status = 'escalated' WHERE id = $1", ticket_id)
        seen = await tickets.list_messages(reader, ticket_id)
    assert before is not None and before["status"] == "open"
    assert [m["direction"] for m in seen] == ["inbound"]
    path = receipt["status_url"].removeprefix("http://testserver")
    after = (await client.get(path)).json()
    assert after["status"] == "escalated" and len(after["messages"]) == 2
