"""Chatwoot: the signed webhook against a real server and database, replies posted to a local
server speaking Chatwoot's messages API."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from fte.bus import dead_letters
from fte.channels.chatwoot.schemas import inbound_message
from fte.channels.chatwoot.webhook import signature
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import transaction
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.channels.whatsapp_twilio.test_whatsapp import channels_health
from tests.conftest import make_settings, serve_app
from tests.fixtures import recorded
from tests.fixtures.db import row_counts
from tests.fixtures.fake_chatwoot import FakeChatwoot
from tests.fixtures.replies import drain, queue_replies
from tests.fixtures.waiting import eventually

SECRET = "chatwoot-webhook-secret"
TOKEN = "chatwoot-api-token"


def chatwoot_settings(base: str = "http://127.0.0.1:9", **env: str) -> Settings:
    return make_settings(
        CHATWOOT_BASE_URL=base,
        CHATWOOT_API_TOKEN=TOKEN,
        CHATWOOT_ACCOUNT_ID="3",
        CHATWOOT_WEBHOOK_SECRET=SECRET,
        FTE_DELIVERY_BACKOFF_SECONDS="0.01",
        **env,
    )


# Chatwoot's message_created webhook (Message#webhook_data), as recorded.
MESSAGE_CREATED: dict[str, Any] = recorded.payload("chatwoot", "message_created")


def message(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(MESSAGE_CREATED)
    payload.update(changes)
    return payload


def headers(
    body: bytes, delivery: str = "d-1", stamp: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    ts = str(int(time.time()) if stamp is None else stamp)
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": signature(secret, ts, body),
        "X-Chatwoot-Timestamp": ts,
        "X-Chatwoot-Delivery": delivery,
    }


async def send(c: httpx.AsyncClient, payload: Any, delivery: str = "d-1") -> httpx.Response:
    body = json.dumps(payload).encode()
    return await c.post("/chatwoot/webhook", content=body, headers=headers(body, delivery))


@pytest.fixture
async def cw(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(db_url, chatwoot_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


async def test_a_customer_message_is_filed_once_per_delivery(
    cw: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    first = await send(cw, MESSAGE_CREATED)
    again = await send(cw, MESSAGE_CREATED)
    assert first.status_code == again.status_code == 200
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    async with pool.acquire() as conn:
        ident = await conn.fetchrow("SELECT kind, value FROM customer_identities")
        conv = await conn.fetchrow("SELECT channel, external_thread_id FROM conversations")
    assert (ident["kind"], ident["value"]) == ("chatwoot_contact", "551")
    assert (conv["channel"], conv["external_thread_id"]) == ("chatwoot", "88")
    assert (await row_counts(pool))["messages"] == 1


@pytest.mark.parametrize("case", ["missing", "wrong-secret", "tampered", "stale", "no-stamp"])
async def test_bad_missing_or_stale_signatures_are_refused(
    cw: httpx.AsyncClient, pool: asyncpg.Pool, case: str
) -> None:
    body = json.dumps(MESSAGE_CREATED).encode()
    hdrs = headers(body)
    if case == "missing":
        del hdrs["X-Chatwoot-Signature"]
    elif case == "wrong-secret":
        hdrs = headers(body, secret="not-the-secret")
    elif case == "tampered":
        body = body.replace(b"reset", b"erase")
    elif case == "stale":
        hdrs = headers(body, stamp=int(time.time()) - 3600)
    else:
        del hdrs["X-Chatwoot-Timestamp"]
    r = await cw.post("/chatwoot/webhook", content=body, headers=hdrs)
    assert r.status_code == 403 and "X-Chatwoot" in r.json()["error"]
    assert (await row_counts(pool))["messages"] == 0


@pytest.mark.parametrize(
    "payload",
    [
        message(message_type="outgoing"),  # ours, or an agent's reply
        message(sender={**MESSAGE_CREATED["sender"], "type": "user"}),  # an agent
        message(private=True),  # a private note
        message(content=None),  # nothing to read
        {"event": "conversation_updated", "id": 88, "status": "open"},
    ],
)
async def test_what_is_not_a_customer_message_is_acknowledged_and_ignored(
    cw: httpx.AsyncClient, pool: asyncpg.Pool, payload: dict[str, Any]
) -> None:
    r = await send(cw, payload)
    assert r.status_code == 200 and "ignored" in r.json()
    assert (await row_counts(pool))["messages"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"id": 1}', "event"),
        (json.dumps(message(conversation="88")).encode(), "conversation"),
        (json.dumps(message(sender={"type": "contact"})).encode(), "sender.id"),
        (json.dumps(message(content=["x"])).encode(), "content"),
        (json.dumps({"event": "conversation_status_changed", "id": 88}).encode(), "status"),
    ],
)
async def test_malformed_payloads_get_a_422_naming_the_field(
    cw: httpx.AsyncClient, pool: asyncpg.Pool, body: bytes, field: str
) -> None:
    r = await cw.post("/chatwoot/webhook", content=body, headers=headers(body))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == field
    assert (await row_counts(pool))["messages"] == 0


async def test_silent_while_a_human_is_assigned_and_resolved_with_the_conversation(
    cw: httpx.AsyncClient, pool: asyncpg.Pool, embedder: Embedder
) -> None:
    assigned = message()
    assigned["conversation"]["meta"]["assignee"] = {"id": 9, "name": "Alex", "type": "user"}
    assert (await send(cw, assigned)).status_code == 200
    settings = chatwoot_settings()
    agent = QueueWorker(pool, settings, embedder, build_registry(settings), name="a")
    assert await agent.run_once() == 0  # filed, and the agent leaves it to the human
    resolved = recorded.payload("chatwoot", "conversation_status_changed")
    assert (await send(cw, resolved, delivery="d-2")).json()["resolved"] is True
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM tickets") == "resolved"
        assert await conn.fetchval("SELECT count(*) FROM agent_runs") == 0


async def _answer(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder, settings: Settings
) -> None:
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        assert (await send(c, MESSAGE_CREATED)).status_code == 200
        assert (await send(c, MESSAGE_CREATED)).status_code == 200  # redelivered
    adapters = build_registry(settings)
    await QueueWorker(kb_pool, settings, embedder, adapters, name="a").run_once()
    delivery = DeliveryWorker(kb_pool, settings, adapters, name="d")
    for _ in range(5):
        await delivery.run_once()


async def test_end_to_end_one_reply_in_the_chatwoot_conversation_after_a_500(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with FakeChatwoot(TOKEN) as fake:
        fake.failures.append(500)
        await _answer(kb_db_url, kb_pool, embedder, chatwoot_settings(fake.base_url))
    (reply,) = fake.posted
    assert [r.status for r in fake.requests] == [500, 200]
    assert (reply.account, reply.conversation) == ("3", "88")
    assert reply.body["message_type"] == "outgoing" and reply.body["private"] is False
    assert "password" in reply.body["content"].lower()


async def test_a_captured_request_replayed_with_new_delivery_ids_is_filed_and_answered_once(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    # X-Chatwoot-Delivery is not signed: an attacker who captured one request replays it
    # inside the timestamp window with ids of their own. The message id is signed.
    body = json.dumps(MESSAGE_CREATED).encode()
    captured = headers(body, delivery="d-original")
    async with FakeChatwoot(TOKEN) as fake:
        settings = chatwoot_settings(fake.base_url)
        async with (
            serve_app(kb_db_url, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as c,
        ):
            answers = [await c.post("/chatwoot/webhook", content=body, headers=captured)]
            for n in range(4):
                replayed = {**captured, "X-Chatwoot-Delivery": f"d-replay-{n}"}
                answers.append(await c.post("/chatwoot/webhook", content=body, headers=replayed))
        assert [a.status_code for a in answers] == [200] * 5
        assert [a.json()["duplicate"] for a in answers] == [False, True, True, True, True]
        adapters = build_registry(settings)
        agent = QueueWorker(kb_pool, settings, embedder, adapters, name="a")
        while await agent.run_once():
            pass
        await drain(DeliveryWorker(kb_pool, settings, adapters, name="d"))
    counts = await row_counts(kb_pool)
    assert (counts["messages"] - len(fake.posted), counts["tickets"]) == (1, 1)
    assert len(fake.posted) == 1  # one reply in the conversation


async def test_in_approval_mode_the_draft_is_a_private_note(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with FakeChatwoot(TOKEN) as fake:
        settings = chatwoot_settings(fake.base_url, FTE_APPROVAL_MODE="true")
        await _answer(kb_db_url, kb_pool, embedder, settings)
    (note,) = fake.posted
    assert note.body["private"] is True and "password" in note.body["content"].lower()


def approve_note(note_id: int | None, *, message_id: int = 9001) -> dict[str, Any]:
    """A private note `/approve` by a human agent, as Chatwoot's message_created sends it."""
    return message(
        id=message_id,
        content="/approve",
        message_type="outgoing",
        private=True,
        content_attributes={"in_reply_to": note_id} if note_id else {},
        sender={"id": 9, "name": "Alex", "email": "alex@cloudsync.example", "type": "user"},
    )


async def test_an_agent_approving_the_draft_in_chatwoot_publishes_it_once(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with FakeChatwoot(TOKEN) as fake:
        settings = chatwoot_settings(fake.base_url, FTE_APPROVAL_MODE="true")
        adapters = build_registry(settings)
        delivery = DeliveryWorker(kb_pool, settings, adapters, name="d")
        async with (
            serve_app(kb_db_url, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as c,
        ):
            assert (await send(c, MESSAGE_CREATED)).status_code == 200
            await QueueWorker(kb_pool, settings, embedder, adapters, name="a").run_once()
            for _ in range(3):
                await delivery.run_once()
            (note,) = fake.posted
            assert note.body["private"] is True
            async with kb_pool.acquire() as conn:
                note_id = await conn.fetchval(
                    "SELECT external_id FROM messages WHERE metadata->>'private' = 'true'"
                )
                draft = await conn.fetchval("SELECT draft FROM agent_runs")
            # Our own note echoed back by Chatwoot is not an approval, nor a customer message.
            echo = message(message_type="outgoing", private=True, content=note.body["content"])
            echo["sender"] = {"id": 2, "name": "FTE bot", "type": "agent_bot"}
            assert "ignored" in (await send(c, echo, delivery="d-echo")).json()
            first = await send(c, approve_note(int(note_id.removeprefix("out:"))), "d-2")
            redelivered = await send(c, approve_note(int(note_id.removeprefix("out:"))), "d-2")
            again = await send(c, approve_note(None, message_id=9002), delivery="d-3")
            for _ in range(3):
                await delivery.run_once()
    assert first.status_code == redelivered.status_code == again.status_code == 200
    assert [first.json()["approved"], redelivered.json()["approved"], again.json()["approved"]] == [
        True,
        False,
        False,
    ]
    published = [p for p in fake.posted if p.body["private"] is False]
    assert len(published) == 1 and published[0].conversation == "88"
    assert published[0].body["content"] == draft.strip()
    async with kb_pool.acquire() as conn:
        audits = await conn.fetch(
            "SELECT actor, detail FROM audit_log WHERE action = 'draft.approve'"
        )
        status = await conn.fetchval("SELECT status FROM tickets")
    assert [a["actor"] for a in audits] == ["chatwoot:user:9"]
    assert status == "pending"


async def test_an_approval_with_no_draft_is_acknowledged_and_sends_nothing(
    cw: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    assert (await send(cw, MESSAGE_CREATED)).status_code == 200
    r = await send(cw, approve_note(None), delivery="d-2")
    assert r.status_code == 200 and "ignored" in r.json()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'deliver'") == 0


async def queued_reply(pool: asyncpg.Pool, body: str = "hello") -> uuid.UUID:
    """A customer's Chatwoot message filed, and one reply to it queued for delivery."""
    filed = await file_inbound(pool, inbound_message(MESSAGE_CREATED))
    (reply,) = await queue_replies(pool, "chatwoot", filed.conversation_id, filed.ticket_id, body)
    return reply


async def test_429_and_500_are_retried_until_chatwoot_accepts(pool: asyncpg.Pool) -> None:
    async with FakeChatwoot(TOKEN) as fake:
        fake.failures.extend([429, 500])
        await queued_reply(pool)
        settings = chatwoot_settings(fake.base_url)
        await drain(DeliveryWorker(pool, settings, build_registry(settings), name="d"))
    assert [r.status for r in fake.requests] == [429, 500, 200]
    assert [(p.conversation, p.body["content"]) for p in fake.posted] == [("88", "hello")]
    assert (await row_counts(pool))["dead_letters"] == 0


async def test_chatwoot_down_opens_the_breaker_then_a_dead_letter_that_replays_once(
    db_url: str, pool: asyncpg.Pool
) -> None:
    async with FakeChatwoot(TOKEN) as fake:
        fake.failures.extend([503] * 50)
        settings = chatwoot_settings(
            fake.base_url,
            FTE_DELIVERY_QUICK_RETRIES="2",
            FTE_DELIVERY_MAX_ATTEMPTS="2",
            FTE_DELIVERY_BREAKER_FAILURES="3",
            FTE_DELIVERY_BREAKER_RESET_SECONDS="0.2",
        )
        message_id = await queued_reply(pool)
        worker = DeliveryWorker(pool, settings, build_registry(settings), name="d")
        await worker.run_once()  # two calls fail; the job waits for its backoff
        async with pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
        await worker.run_once()  # the third failure opens the breaker and ends the attempts
        assert worker.sender.breaker("chatwoot").state == "open"
        assert (await channels_health(db_url, settings))["chatwoot"] == "degraded"
        async with pool.acquire() as conn:
            dead = await dead_letters.list_open(conn)
            message = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
        assert len(fake.requests) == 3 and len(dead) == 1 and "Chatwoot 503" in dead[0]["error"]
        assert message["delivery_status"] == "failed"

        fake.failures.clear()  # Chatwoot is back
        async with transaction(pool) as conn:
            assert await dead_letters.replay(conn, dead[0]["id"])
            assert not await dead_letters.replay(conn, dead[0]["id"])  # replayed once

        async def probed() -> bool:  # refused while open, then the half-open probe goes through
            await worker.run_once()
            return bool(fake.posted)

        await eventually(probed, 10, "the half-open probe delivered")
        await drain(worker)
    assert [p.body["content"] for p in fake.posted] == ["hello"]
    assert worker.sender.breaker("chatwoot").state == "closed"
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT delivery_status FROM messages WHERE id = $1", message_id)
            == "sent"
        )


@pytest.mark.parametrize("status", ["open", "pending", "snoozed"])
async def test_other_status_changes_are_acknowledged_and_leave_the_ticket(
    cw: httpx.AsyncClient, pool: asyncpg.Pool, status: str
) -> None:
    assert (await send(cw, MESSAGE_CREATED)).status_code == 200
    change = recorded.payload("chatwoot", "conversation_status_changed", status=status)
    r = await send(cw, change, delivery="d-2")
    assert r.status_code == 200 and "resolved" not in r.json()
    unknown = recorded.payload("chatwoot", "conversation_status_changed", id=99)
    assert (await send(cw, unknown, delivery="d-3")).json()["resolved"] is False
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM tickets") == "open"
