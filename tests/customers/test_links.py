"""One customer across channels, on the real database: identities given in a message, link
suggestions when someone else owns them, and the operator's merge (API and CLI)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service as auth
from fte.console.customers import panel
from fte.customers import service
from fte.customers.identities import given_in, normalise
from fte.db import transaction
from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from tests.channels.whatsapp_twilio.test_whatsapp import incoming, post, twilio_settings
from tests.cli.test_dlq import fte
from tests.conftest import serve_app

FORM = {"name": "Ana Silva", "subject": "Invoice", "message": "Where is my invoice for May?"}


@pytest.fixture
async def site(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API with WhatsApp configured: the webhook, the web form and the admin API."""
    async with (
        serve_app(db_url, twilio_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


@pytest.fixture
async def admin(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        key = await auth.create_api_key(conn, "ops", "admin")
    return {"X-API-Key": key.key}


async def whatsapp(c: httpx.AsyncClient, body: str, n: int = 1) -> None:
    r = await post(c, "/whatsapp/webhook", incoming(sid="SM" + str(n) * 32, body=body))
    assert r.status_code == 200, r.text


async def web_form(c: httpx.AsyncClient, email: str) -> None:
    r = await c.post("/support/submit", json={**FORM, "email": email})
    assert r.status_code == 201, r.text


async def customer_of(conn: asyncpg.Connection, kind: str, value: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2", kind, value
    )
    return found


async def form_customer(conn: asyncpg.Connection, email: str) -> uuid.UUID | None:
    """The customer a web-form submission made (the form's email is its contact, not an
    identity: each submission is its own customer)."""
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT c.id FROM customers c JOIN tickets t ON t.customer_id = c.id "
        "WHERE c.email = $1 AND t.channel = 'web_form'",
        email,
    )
    return found


async def email_in(pool: asyncpg.Pool, address: str) -> None:
    """A message filed as the mailbox poller files one: its From proven by the email channel."""
    await file_inbound(
        pool, InboundMessage(channel="email", identity=Identity("email", address), body="Hi")
    )


def test_only_identities_the_customer_calls_their_own_are_taken() -> None:
    assert given_in("Hi! My email is Ana.Silva@Example.COM, thanks") == [
        Identity("email", "ana.silva@example.com")
    ]
    assert given_in("you can reach me on +44 7700 900123.") == [Identity("phone", "+447700900123")]
    assert given_in("Please send it to billing@acme.example") == []
    assert given_in("My order is 12345. Write to billing@acme.example") == []
    assert given_in("my number is 07700 900123") == []  # not international: ambiguous
    assert normalise(Identity("phone", "+44 (0)7700 900-123")) == Identity("phone", "+447700900123")
    assert normalise(Identity("email", " Ana@Example.com ")) == Identity("email", "ana@example.com")


async def test_an_email_given_on_whatsapp_is_suggested_and_history_follows_a_merge(
    site: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    await whatsapp(site, "Hello, my email is Ana@Example.com if you need it")
    await web_form(site, "ana@example.com")
    async with pool.acquire() as conn:
        by_phone = await customer_of(conn, "phone", "+447700900123")
        by_email = await customer_of(conn, "email", "ana@example.com")
        by_form = await form_customer(conn, "ana@example.com")
        tickets = await conn.fetch("SELECT id, customer_id, channel FROM tickets ORDER BY number")
        links = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'customer.link'")
    # A claim links nothing: neither the text on WhatsApp nor the form's email field.
    assert by_email is None and links == 0
    assert by_phone is not None and by_form is not None and by_phone != by_form
    listed = await site.get("/api/admin/customers/link-suggestions", headers=admin)
    (suggestion,) = listed.json()
    assert (suggestion["customer_id"], suggestion["owner_id"]) == (str(by_phone), None)
    assert (suggestion["kind"], suggestion["value"]) == ("email", "ana@example.com")
    # The operator who checked merges: the console's ticket view then lists both tickets.
    r = await site.post(
        f"/api/admin/customers/{by_phone}/merge", json={"other_id": str(by_form)}, headers=admin
    )
    assert r.status_code == 200 and r.json()["merged"] is True
    async with pool.acquire() as conn:
        shown = await panel(conn, by_phone, exclude_ticket=tickets[0]["id"])
    assert shown is not None and [t["channel"] for t in shown["tickets"]] == ["web_form"]


async def test_an_email_someone_else_owns_is_suggested_never_merged(
    site: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    await email_in(pool, "bea@example.com")
    await whatsapp(site, "my email is bea@example.com")
    await whatsapp(site, "My email is bea@example.com, again", n=2)  # one suggestion, not two
    async with pool.acquire() as conn:
        by_phone = await customer_of(conn, "phone", "+447700900123")
        by_email = await customer_of(conn, "email", "bea@example.com")
        identities = await conn.fetchval(
            "SELECT count(*) FROM customer_identities WHERE customer_id = $1", by_phone
        )
    assert by_phone is not None and by_email is not None and by_phone != by_email
    assert identities == 1  # the phone only: the email stays with its owner
    listed = await site.get("/api/admin/customers/link-suggestions", headers=admin)
    assert listed.status_code == 200
    (suggestion,) = listed.json()
    assert (suggestion["customer_id"], suggestion["owner_id"]) == (str(by_phone), str(by_email))
    assert (suggestion["kind"], suggestion["value"]) == ("email", "bea@example.com")
    # The web form's email field is a claim too: a suggestion beside the proven owner.
    await web_form(site, "bea@example.com")
    async with pool.acquire() as conn:
        by_form = await form_customer(conn, "bea@example.com")
    listed = await site.get("/api/admin/customers/link-suggestions", headers=admin)
    assert {(s["customer_id"], s["owner_id"]) for s in listed.json()} == {
        (str(by_phone), str(by_email)),
        (str(by_form), str(by_email)),
    }
    # The operator confirms one by merging: that suggestion is settled.
    r = await site.post(
        f"/api/admin/customers/{by_email}/merge", json={"other_id": str(by_phone)}, headers=admin
    )
    assert r.status_code == 200 and r.json()["merged"] is True
    listed = await site.get("/api/admin/customers/link-suggestions", headers=admin)
    assert [(s["customer_id"], s["owner_id"]) for s in listed.json()] == [
        (str(by_form), str(by_email))
    ]


async def test_an_operator_merge_moves_everything_once_and_is_audited(
    site: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    await whatsapp(site, "Where is my parcel?")
    await web_form(site, "cy@example.com")
    async with pool.acquire() as conn:
        keep = await form_customer(conn, "cy@example.com")
        other = await customer_of(conn, "phone", "+447700900123")
    url = f"/api/admin/customers/{keep}/merge"
    assert (await site.post(url, json={"other_id": str(other)})).status_code == 401
    r = await site.post(url, json={"other_id": str(other)}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "keep_id": str(keep),
        "other_id": str(other),
        "merged": True,
        "moved": {"tickets": 1, "conversations": 1, "customer_identities": 1},
    }
    again = await site.post(url, json={"other_id": str(other)}, headers=admin)
    assert again.status_code == 200 and again.json()["merged"] is False
    async with pool.acquire() as conn:
        owners = await conn.fetch(
            "SELECT DISTINCT customer_id FROM tickets UNION SELECT customer_id FROM conversations "
            "UNION SELECT customer_id FROM customer_identities"
        )
        merged_into = await conn.fetchval("SELECT merged_into FROM customers WHERE id = $1", other)
        audits = await conn.fetch(
            "SELECT actor, detail FROM audit_log WHERE action = 'customer.merge'"
        )
    assert [o["customer_id"] for o in owners] == [keep] and merged_into == keep
    (entry,) = audits  # the second merge changed nothing and wrote nothing
    assert entry["actor"].startswith("apikey:")
    assert entry["detail"]["other_id"] == str(other)
    # The merged customer's next WhatsApp message lands on the kept customer.
    await whatsapp(site, "Any news?", n=3)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(DISTINCT customer_id) FROM tickets") == 1


@pytest.mark.parametrize(
    ("keep", "other", "status", "field"),
    [
        (uuid.UUID(int=1), None, 404, "keep_id"),
        (None, uuid.UUID(int=2), 404, "other_id"),
        (None, None, 422, "other_id"),  # the same customer twice
    ],
)
async def test_unknown_or_same_customers_are_named_4xx(
    site: httpx.AsyncClient,
    pool: asyncpg.Pool,
    admin: dict[str, str],
    keep: uuid.UUID | None,
    other: uuid.UUID | None,
    status: int,
    field: str,
) -> None:
    await web_form(site, "dee@example.com")
    async with pool.acquire() as conn:
        known = await form_customer(conn, "dee@example.com")
    r = await site.post(
        f"/api/admin/customers/{keep or known}/merge",
        json={"other_id": str(other or known)},
        headers=admin,
    )
    assert r.status_code == status and r.json()["detail"][0]["field"] == field
    bad = await site.post(
        f"/api/admin/customers/{known}/merge", json={"other_id": "nope"}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "other_id"


async def test_merging_into_a_merged_customer_is_a_409(
    site: httpx.AsyncClient, pool: asyncpg.Pool, admin: dict[str, str]
) -> None:
    for email in ("e1@example.com", "e2@example.com", "e3@example.com"):
        await web_form(site, email)
    async with pool.acquire() as conn:
        a, b, c = [await form_customer(conn, f"e{i}@example.com") for i in (1, 2, 3)]
    assert (
        await site.post(f"/api/admin/customers/{a}/merge", json={"other_id": str(b)}, headers=admin)
    ).status_code == 200
    into_merged = await site.post(
        f"/api/admin/customers/{b}/merge", json={"other_id": str(c)}, headers=admin
    )
    merged_elsewhere = await site.post(
        f"/api/admin/customers/{c}/merge", json={"other_id": str(b)}, headers=admin
    )
    assert into_merged.status_code == merged_elsewhere.status_code == 409
    assert str(a) in into_merged.json()["error"]


async def test_a_merge_that_fails_midway_changes_nothing(
    site: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    await whatsapp(site, "Hello")
    await web_form(site, "fay@example.com")
    async with pool.acquire() as conn:
        keep = await form_customer(conn, "fay@example.com")
        other = await customer_of(conn, "phone", "+447700900123")
        # A real failure at the last step (identities move after tickets and conversations).
        await conn.execute(
            """
            CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'identity move refused'; END $$;
            CREATE TRIGGER refuse BEFORE UPDATE ON customer_identities
            FOR EACH ROW EXECUTE FUNCTION refuse();
            """
        )
    assert keep is not None and other is not None
    with pytest.raises(asyncpg.RaiseError):
        async with transaction(pool) as conn:
            await service.merge(conn, keep, other, "test")
    async with pool.acquire() as conn:
        owners = await conn.fetch("SELECT customer_id, channel FROM tickets ORDER BY number")
        merged = await conn.fetchval("SELECT count(*) FROM customers WHERE merged_into IS NOT NULL")
        audits = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'customer.merge'"
        )
    assert [o["customer_id"] for o in owners] == [other, keep]
    assert merged == 0 and audits == 0


async def test_fte_customer_merge_from_the_command_line(
    site: httpx.AsyncClient, pool: asyncpg.Pool, db_url: str
) -> None:
    await whatsapp(site, "Hi")
    await web_form(site, "gus@example.com")
    async with pool.acquire() as conn:
        keep = await form_customer(conn, "gus@example.com")
        other = await customer_of(conn, "phone", "+447700900123")
    done = await fte(db_url, "customer", "merge", str(keep), str(other), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["moved"]["tickets"] == 1
    again = await fte(db_url, "customer", "merge", str(keep), str(other))
    assert again.returncode == 0 and "already" in again.stderr
    unknown = await fte(db_url, "customer", "merge", str(keep), str(uuid.UUID(int=7)))
    assert unknown.returncode == 1 and "no customer" in unknown.stderr
    bad = await fte(db_url, "customer", "merge", str(keep), "not-an-id")
    assert bad.returncode == 2
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(DISTINCT customer_id) FROM tickets") == 1
