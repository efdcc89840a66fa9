"""The customer's page as a conversation, over real HTTP: writing back on the same ticket with
the page's token, rating it once solved, statuses and validation messages in plain words, and
what an attacker without the token (or on another site) gets."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from fte.db import transaction
from fte.tickets import service as tickets
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import csrf_of, signed_in_agent
from tests.fixtures.db import row_counts

FORM = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "subject": "Cannot sign in",
    "message": "I forgot my password, how do I reset it?",
}
# What a customer must never read: the desk's words and a validator's.
INTERNAL = ("pending", "escalated", "String should", "value is not a valid", "Field required")


def _page(receipt: dict[str, str]) -> tuple[str, str]:
    """(path, token) of the ticket's page."""
    path, token = receipt["status_url"].removeprefix("http://testserver").split("?token=")
    return path, token


async def _submit(client: httpx.AsyncClient) -> tuple[str, str, str]:
    receipt = (await client.post("/support/submit", json=FORM)).json()
    path, token = _page(receipt)
    return receipt["ticket_id"], path, token


async def test_the_customer_reads_a_persons_reply_and_writes_back_on_the_same_ticket(
    db_url: str, pool: asyncpg.Pool
) -> None:
    async with (
        signed_in_agent(db_url, pool) as staff,
        httpx.AsyncClient(base_url=staff.base_url, timeout=10) as customer,
    ):
        ticket_id, path, token = await _submit(customer)
        view = (await customer.get(f"{path}?token={token}")).json()
        assert (view["state"], view["status_text"]) == ("on_it", "We're on it")

        page = await staff.get(f"/console/tickets/{ticket_id}")
        sent = await staff.post(
            f"/console/tickets/{ticket_id}/reply",
            data={"body": "Use the reset link on the sign-in page.", "csrf": csrf_of(page)},
        )
        assert sent.status_code == 303
        view = (await customer.get(f"{path}?token={token}")).json()
        assert (view["state"], view["status_text"]) == ("waiting_for_you", "Waiting for your reply")
        assert view["messages"][-1]["author"] == "support"
        assert not any(word in view["status_text"] for word in INTERNAL)

        reply = await customer.post(
            f"{path}/replies", json={"token": token, "message": "The link has expired."}
        )
        assert reply.status_code == 201, reply.text
        assert reply.json()["ticket_id"] == ticket_id
        view = (await customer.get(f"{path}?token={token}")).json()
        assert [m["author"] for m in view["messages"]] == ["you", "support", "you"]
        assert view["messages"][-1]["body"] == "The link has expired."
        assert view["state"] == "on_it"
        # In the console too, on the same ticket, for the agent to pick up.
        assert "The link has expired." in (await staff.get(f"/console/tickets/{ticket_id}")).text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1
        assert await conn.fetchval("SELECT count(*) FROM customers") == 1
        queued = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'inbound'")
    assert queued == 2  # the agent hears the reply


async def test_the_same_reply_sent_twice_with_its_key_is_filed_once(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    _, path, token = await _submit(client)
    body = {"token": token, "message": "Me again"}
    key = {"Idempotency-Key": "reply-1"}
    first = await client.post(f"{path}/replies", json=body, headers=key)
    second = await client.post(f"{path}/replies", json=body, headers=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["duplicate"] is True
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 2


async def test_a_wrong_token_is_the_same_404_as_no_ticket_and_writes_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    _, path, token = await _submit(client)
    _, _, other_token = await _submit(client)
    before = await row_counts(pool)
    guesses = [
        (path, "guess"),
        (path, other_token),  # another ticket's token
        (path, token[:-1] + ("A" if token[-1] != "A" else "B")),
        ("/support/tickets/00000000-0000-4000-8000-000000000000", token),
    ]
    answers = []
    for target, guess in guesses:
        for url, body in (
            (f"{target}/replies", {"token": guess, "message": "hi"}),
            (f"{target}/rating", {"token": guess, "score": 5}),
        ):
            method = client.post if url.endswith("replies") else client.put
            response = await method(url, json=body)
            answers.append((response.status_code, response.json()))
    assert {status for status, _ in answers} == {404}
    assert len({str(body) for _, body in answers}) == 1  # nothing tells which was wrong
    assert await row_counts(pool) == before


async def test_another_sites_page_cannot_post_for_the_customer(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    _, path, token = await _submit(client)
    before = await row_counts(pool)
    body = {"token": token, "message": "forged"}
    cross_origin = await client.post(
        f"{path}/replies", json=body, headers={"Origin": "https://evil.example"}
    )
    cross_site = await client.post(
        f"{path}/replies", json=body, headers={"Sec-Fetch-Site": "cross-site"}
    )
    # What an HTML form on another site can send without a CORS preflight.
    as_form = await client.post(f"{path}/replies", data=body)
    as_text = await client.post(
        f"{path}/replies", content=b'{"token": "x"}', headers={"content-type": "text/plain"}
    )
    assert [r.status_code for r in (cross_origin, cross_site, as_form, as_text)] == [
        403,
        403,
        415,
        415,
    ]
    assert await row_counts(pool) == before
    same_origin = await client.post(
        f"{path}/replies", json=body, headers={"Origin": str(client.base_url).rstrip("/")}
    )
    assert same_origin.status_code == 201


async def test_replies_are_rate_limited_per_client(db_url: str, pool: asyncpg.Pool) -> None:
    async with (
        serve_app(db_url, make_settings(FTE_FORM_RATE_LIMIT="2")) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        _, path, token = await _submit(client)
        codes = [
            (await client.post(f"{path}/replies", json={"token": token, "message": f"{i}"}))
            for i in range(3)
        ]
        assert [r.status_code for r in codes] == [201, 201, 429]
        assert int(codes[-1].headers["Retry-After"]) >= 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 3


async def test_a_closed_ticket_takes_no_reply(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ticket_id, path, token = await _submit(client)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE tickets SET status = 'closed' WHERE id = $1::uuid", ticket_id)
    refused = await client.post(f"{path}/replies", json={"token": token, "message": "hello?"})
    assert refused.status_code == 409
    assert refused.json()["detail"][0]["reason"] == (
        "This request is closed; please send us a new one"
    )
    view = (await client.get(f"{path}?token={token}")).json()
    assert (view["state"], view["status_text"], view["can_reply"]) == ("solved", "Solved", False)


async def test_a_solved_ticket_is_rated_once_and_rating_again_replaces_it(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ticket_id, path, token = await _submit(client)
    early = await client.put(f"{path}/rating", json={"token": token, "score": 5})
    assert early.status_code == 409
    assert early.json()["detail"][0]["reason"] == "You can rate this request once it is solved"

    async with transaction(pool) as conn:
        await tickets.resolve(conn, uuid.UUID(ticket_id))
    view = (await client.get(f"{path}?token={token}")).json()
    assert (view["state"], view["status_text"], view["rating"]) == ("solved", "Solved", None)

    first = await client.put(f"{path}/rating", json={"token": token, "score": 2})
    assert first.status_code == 200 and first.json() == {"score": 2, "comment": None}
    again = await client.put(
        f"{path}/rating", json={"token": token, "score": 4, "comment": "Quick, thanks"}
    )
    assert again.status_code == 200
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT score, comment FROM ticket_ratings")
    assert [(r["score"], r["comment"]) for r in rows] == [(4, "Quick, thanks")]
    view = (await client.get(f"{path}?token={token}")).json()
    assert view["rating"] == {"score": 4, "comment": "Quick, thanks"}

    bad = await client.put(f"{path}/rating", json={"token": token, "score": 6})
    assert bad.status_code == 422
    assert bad.json()["detail"][0] | {"loc": None} == {
        "loc": None,
        "field": "score",
        "reason": "Please choose a rating from 1 to 5",
    }


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"email": ""}, "email", "Please enter your email address"),
        ({"email": None}, "email", "Please enter your email address"),
        (
            {"email": "ada@"},
            "email",
            "Please enter a valid email address, like name@example.com",
        ),
        ({"name": "  "}, "name", "Please enter your name"),
        ({"subject": "x" * 301}, "subject", "Please keep the subject under 300 characters"),
        ({"message": ""}, "message", "Please write your message"),
        ({"priority": "yesterday"}, "priority", "Please choose an urgency from the list"),
    ],
)
async def test_the_forms_422_names_the_field_in_plain_words(
    client: httpx.AsyncClient, change: dict[str, object], field: str, reason: str
) -> None:
    form = {k: v for k, v in {**FORM, **change}.items() if v is not None}
    response = await client.post("/support/submit", json=form)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid request"
    assert [(d["field"], d["reason"], d["loc"]) for d in body["detail"]] == [
        (field, reason, ["body", field])
    ]
    assert not any(word in response.text for word in INTERNAL)


async def test_the_reply_boxs_422_is_in_plain_words_too(client: httpx.AsyncClient) -> None:
    _, path, token = await _submit(client)
    empty = await client.post(f"{path}/replies", json={"token": token, "message": "   "})
    assert empty.status_code == 422
    assert [(d["field"], d["reason"]) for d in empty.json()["detail"]] == [
        ("message", "Please write your message")
    ]
    unreadable = await client.post(
        f"{path}/replies", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert unreadable.status_code == 422
    assert unreadable.json()["detail"][0]["reason"] == (
        "We could not read what was sent; please try again"
    )
    assert not any(word in empty.text + unreadable.text for word in INTERNAL)


async def test_replies_sent_at_once_land_on_the_same_ticket(
    client: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    ticket_id, path, token = await _submit(client)
    sent = await asyncio.gather(
        *(
            client.post(f"{path}/replies", json={"token": token, "message": f"part {i}"})
            for i in range(4)
        )
    )
    assert [r.status_code for r in sent] == [201] * 4
    assert {r.json()["ticket_id"] for r in sent} == {ticket_id}
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 1
