"""Identity claims never capture a customer (issue 17, item 3): an address written in a message
or typed into the web form is offered to an operator, never linked, so the real owner's
messages, replies and history stay theirs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg
import httpx
import pytest

from fte.agent.runner import MessageContext
from fte.agent.tools import AgentToolBox
from fte.auth import service as auth
from fte.channels.imap_smtp.poller import MailboxPoller
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.tickets import repository as tickets
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.channels.imap_smtp.test_email import email_settings
from tests.channels.whatsapp_twilio.test_whatsapp import incoming, post, twilio_settings
from tests.cli.test_dlq import fte
from tests.conftest import serve_app
from tests.fixtures.mail_servers import deliver_to_mailbox, imap_server, smtp_server

NINA_FIRST = b"""From: Nina Park <nina@corp.example>\r
To: support@cloudsync.example\r
Subject: Password help\r
Message-ID: <nina-1@corp.example>\r
Date: Mon, 23 Nov 2026 10:00:00 +0000\r
Content-Type: text/plain; charset=utf-8\r
\r
I forgot my password. How can I reset it?\r
"""

NINA_SECOND = b"""From: Nina Park <nina@corp.example>\r
To: support@cloudsync.example\r
Subject: Another question\r
Message-ID: <nina-2@corp.example>\r
Date: Mon, 23 Nov 2026 10:05:00 +0000\r
Content-Type: text/plain; charset=utf-8\r
\r
And how do I change my password?\r
"""

ATTACK = {
    "name": "Mallory Evil",
    "email": "attacker@x.example",
    "subject": "Account",
    "message": "Hi, my email is nina@corp.example and you can reach me on +44 7700 900123. "
    "Secret plan: take over her account.",
}


async def history(pool: asyncpg.Pool, message_id: uuid.UUID) -> list[str]:
    """What the agent's get_customer_history tool returns while answering this message."""
    async with pool.acquire() as conn:
        row = await tickets.load_message_context(conn, message_id)
        assert row is not None
        # The history tool never touches the agent (only search_knowledge_base does).
        box = AgentToolBox(conn, MessageContext.from_record(row), cast(Any, None))
        return [item.body for item in await box.get_customer_history()]


async def customer_of_message(pool: asyncpg.Pool, external_id: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT m.id, t.customer_id, c.name FROM messages m "
            "JOIN tickets t ON t.id = m.ticket_id JOIN customers c ON c.id = t.customer_id "
            "WHERE m.external_id = $1",
            external_id,
        )
    assert row is not None
    return row


@pytest.fixture
async def site(kb_db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(kb_db_url, twilio_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


async def test_an_email_claimed_in_a_web_form_does_not_capture_its_owner(
    site: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    r = await site.post("/support/submit", json=ATTACK)
    assert r.status_code == 201, r.text
    async with kb_pool.acquire() as conn:
        attacker = await conn.fetchval(
            "SELECT customer_id FROM tickets WHERE id = $1", uuid.UUID(r.json()["ticket_id"])
        )

    # Nina writes in from her own mailbox: the email channel proves her address.
    with imap_server() as imap_port, smtp_server() as (smtp_port, smtp):
        settings = email_settings(imap_port, smtp_port)
        poller = MailboxPoller(kb_pool, settings)
        deliver_to_mailbox(imap_port, NINA_FIRST)
        assert await poller.poll_once() == 1
        adapters = build_registry(settings)
        agent = QueueWorker(kb_pool, settings, embedder, adapters, name="a")
        while await agent.run_once():
            pass
        delivery = DeliveryWorker(kb_pool, settings, adapters, name="d")
        while await delivery.run_once():
            pass
        deliver_to_mailbox(imap_port, NINA_SECOND)
        assert await poller.poll_once() == 1

    nina = await customer_of_message(kb_pool, "<nina-1@corp.example>")
    second = await customer_of_message(kb_pool, "<nina-2@corp.example>")
    assert nina["customer_id"] != attacker and nina["name"] == "Nina Park"
    assert second["customer_id"] == nina["customer_id"]
    (reply,) = smtp.messages
    assert reply["To"] == "nina@corp.example"
    assert reply.get_content().startswith("Hi Nina,")
    seen = await history(kb_pool, second["id"])
    assert seen and seen[0] == "I forgot my password. How can I reset it?"
    assert not any("Secret plan" in body or "Mallory" in body for body in seen)
    async with kb_pool.acquire() as conn:
        attack_message = await conn.fetchval(
            "SELECT m.id FROM messages m JOIN tickets t ON t.id = m.ticket_id "
            "WHERE t.customer_id = $1 AND m.direction = 'inbound'",
            attacker,
        )
        claimed = await conn.fetchval(
            "SELECT count(*) FROM customer_identities WHERE customer_id = $1 AND kind = 'email'",
            attacker,
        )
    # The attacker's history holds only their own ticket (and our reply on it), none of hers.
    assert not any("password" in body for body in await history(kb_pool, attack_message))
    assert claimed == 0  # the attacker owns neither the address they typed nor the one claimed


async def test_a_number_claimed_in_a_message_waits_for_an_operator(
    site: httpx.AsyncClient, kb_pool: asyncpg.Pool, kb_db_url: str
) -> None:
    r = await site.post("/support/submit", json=ATTACK)
    assert r.status_code == 201, r.text
    # The number's owner writes on WhatsApp: Twilio's signature proves the From.
    sent = await post(site, "/whatsapp/webhook", incoming(body="Hello, where is my parcel?"))
    assert sent.status_code == 200, sent.text
    async with kb_pool.acquire() as conn:
        owners = await conn.fetch("SELECT customer_id, channel FROM tickets ORDER BY number")
        key = await auth.create_api_key(conn, "ops", "admin")
    (attacker, _), (owner, channel) = [(o["customer_id"], o["channel"]) for o in owners]
    assert channel == "whatsapp" and owner != attacker
    listed = await site.get("/api/admin/customers/link-suggestions", headers={"X-API-Key": key.key})
    assert listed.status_code == 200
    claims = {(s["kind"], s["value"]): s for s in listed.json()}
    assert set(claims) == {
        ("email", "nina@corp.example"),
        ("phone", "+447700900123"),
        # The form's own email field: nobody proved it, so nothing to offer yet.
    }
    assert all(s["customer_id"] == str(attacker) for s in claims.values())
    # Nobody owns the email yet; the number has an owner now, shown to the operator.
    assert claims[("email", "nina@corp.example")]["owner_id"] is None
    assert claims[("phone", "+447700900123")]["owner_id"] == str(owner)
    # The command line shows the same, the owner-less claim included.
    listed_cli = await fte(kb_db_url, "customer", "suggestions", "--json")
    assert listed_cli.returncode == 0, listed_cli.stderr
    lines = [json.loads(line) for line in listed_cli.stdout.splitlines()]
    assert sorted((s["value"], s["owner_id"]) for s in lines) == [
        ("+447700900123", str(owner)),
        ("nina@corp.example", None),
    ]
    table = await fte(kb_db_url, "customer", "suggestions")
    assert table.returncode == 0 and "nobody" in table.stderr, table.stderr  # rich: stderr
