"""WhatsApp through Twilio: the webhook against a real server and database, replies through the
real `twilio` client to a local server speaking Twilio's REST API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from fte.bus import dead_letters
from fte.channels.registry import build_registry
from fte.channels.whatsapp_twilio.schemas import inbound_message
from fte.config import Settings
from fte.db import transaction
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.conftest import make_settings, serve_app
from tests.fixtures import recorded
from tests.fixtures.db import row_counts
from tests.fixtures.fake_twilio import FakeTwilio
from tests.fixtures.replies import deliverer, drain, queue_replies
from tests.fixtures.waiting import eventually

SID = "AC" + "a" * 32
TOKEN = "twilio-auth-token"
SENDER = "whatsapp:+14155238886"
PUBLIC = "http://testserver"  # what Twilio called: our public URL, not the socket we listen on


def twilio_settings(fake: FakeTwilio | None = None, **env: str) -> Settings:
    return make_settings(
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_WHATSAPP_FROM=SENDER,
        TWILIO_API_BASE=fake.base_url if fake else "http://127.0.0.1:9",
        FTE_DELIVERY_BACKOFF_SECONDS="0.01",
        **env,
    )


def incoming(sid: str = "SM" + "1" * 32, body: str = "How do I reset my password?", **extra: str):
    """Parameters as Twilio posts them for an incoming WhatsApp message."""
    ids = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid}
    return recorded.payload("twilio", "whatsapp_incoming", **{**ids, "Body": body, **extra})


def signed(path: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    signature = RequestValidator(token).compute_signature(PUBLIC + path, params)
    return {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def wa(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(db_url, twilio_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


async def post(c: httpx.AsyncClient, path: str, params: dict[str, str], **headers: str):
    hdrs = {**signed(path, params), **headers}
    return await c.post(path, content=urlencode(params), headers=hdrs)


async def test_a_signed_message_is_filed_once_by_its_sid(
    wa: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    first = await post(wa, "/whatsapp/webhook", incoming())
    again = await post(wa, "/whatsapp/webhook", incoming())
    assert first.status_code == again.status_code == 200
    assert first.headers["content-type"].startswith("text/xml") and "<Response>" in first.text
    async with pool.acquire() as conn:
        msg = await conn.fetchrow("SELECT * FROM messages")
        ident = await conn.fetchrow("SELECT kind, value FROM customer_identities")
    assert (ident["kind"], ident["value"]) == ("phone", "+447700900123")
    assert msg["external_id"] == "SM" + "1" * 32 and msg["metadata"]["reply_to"] == "+447700900123"
    counts = await row_counts(pool)
    assert counts["messages"] == 1 and counts["outbox"] == 1


@pytest.mark.parametrize("signature", [None, "bm90IHRoZSBzaWduYXR1cmU=", "wrong-token"])
async def test_bad_or_missing_signatures_are_refused_and_nothing_is_written(
    wa: httpx.AsyncClient, pool: asyncpg.Pool, signature: str | None
) -> None:
    params = incoming()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "wrong-token":
        headers = signed("/whatsapp/webhook", params, token="someone-elses-token")
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    r = await wa.post("/whatsapp/webhook", content=urlencode(params), headers=headers)
    assert r.status_code == 403 and "X-Twilio-Signature" in r.json()["error"]
    assert (await row_counts(pool))["messages"] == 0


async def test_a_media_only_message_is_accepted_and_noted(
    wa: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    media = "https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1"
    params = incoming(
        body="", NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg", MessageType="image"
    )
    assert (await post(wa, "/whatsapp/webhook", params)).status_code == 200
    async with pool.acquire() as conn:
        msg = await conn.fetchrow("SELECT body, metadata FROM messages")
    assert "image/jpeg" in msg["body"]
    assert msg["metadata"]["media"] == [{"url": media, "content_type": "image/jpeg"}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MessageSid": ""}, "MessageSid"),
        ({"From": "whatsapp:not-a-number"}, "From"),
        ({"From": ""}, "From"),
        ({"Body": "", "NumMedia": "0"}, "Body"),
        ({"NumMedia": "many"}, "NumMedia"),
    ],
)
async def test_malformed_parameters_get_a_422_naming_the_field(
    wa: httpx.AsyncClient, pool: asyncpg.Pool, change: dict[str, str], field: str
) -> None:
    r = await post(wa, "/whatsapp/webhook", incoming(**change))
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == field
    assert (await row_counts(pool))["messages"] == 0


async def test_the_channel_is_404_when_not_configured(client: httpx.AsyncClient) -> None:
    r = await client.post("/whatsapp/webhook", content=urlencode(incoming()))
    assert r.status_code == 404 and "not configured" in r.json()["error"]


async def queued_reply(pool: asyncpg.Pool, *bodies: str) -> list[uuid.UUID]:
    filed = await file_inbound(pool, inbound_message(incoming()))
    return await queue_replies(pool, "whatsapp", filed.conversation_id, filed.ticket_id, *bodies)


async def test_parts_go_out_in_order_once_even_when_the_job_is_redelivered(
    pool: asyncpg.Pool,
) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        ids = await queued_reply(pool, "part one", "part two")
        worker = deliverer(pool, twilio_settings(fake))
        await drain(worker)
        async with pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET processed_at = NULL WHERE topic = 'deliver'")
        await drain(worker)
    assert [(p["Body"], p["To"], p["From"]) for p in fake.delivered] == [
        ("part one", "whatsapp:+447700900123", SENDER),
        ("part two", "whatsapp:+447700900123", SENDER),
    ]
    assert fake.delivered[0]["StatusCallback"] == PUBLIC + "/whatsapp/status"
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, delivery_status, external_id, sent_at FROM messages WHERE id = ANY($1)",
            ids,
        )
    assert {r["delivery_status"] for r in rows} == {"sent"}
    assert {r["external_id"] for r in rows} == {r.sid for r in fake.requests}


async def test_429_and_500_are_retried_until_twilio_accepts(pool: asyncpg.Pool) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        fake.fail(429, 500)
        await queued_reply(pool, "hello")
        await drain(deliverer(pool, twilio_settings(fake)))
    assert [r.status for r in fake.requests] == [429, 500, 201]
    assert (await row_counts(pool))["dead_letters"] == 0


async def channels_health(db_url: str, settings: Settings) -> dict[str, str]:
    async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
        r = await c.get("/health")
    assert r.status_code == 200
    channels: dict[str, str] = r.json()["channels"]
    return channels


async def test_twilio_down_opens_the_breaker_then_a_dead_letter_that_replays_once(
    db_url: str, pool: asyncpg.Pool
) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        fake.down = True
        settings = twilio_settings(
            fake,
            FTE_DELIVERY_QUICK_RETRIES="2",
            FTE_DELIVERY_MAX_ATTEMPTS="2",
            FTE_DELIVERY_BREAKER_FAILURES="3",
            FTE_DELIVERY_BREAKER_RESET_SECONDS="0.2",
        )
        (message_id,) = await queued_reply(pool, "hello")
        worker = deliverer(pool, settings)
        await worker.run_once()  # two calls fail; the job waits for its backoff
        async with pool.acquire() as conn:
            await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
        await worker.run_once()  # one more failure opens the breaker: the next call is refused
        assert worker.sender.breaker("whatsapp").state == "open"
        health = await channels_health(db_url, settings)
        assert health["whatsapp"] == "degraded"
        assert (health["web_form"], health["chatwoot"]) == ("active", "inactive")
        calls = len(fake.requests)
        async with pool.acquire() as conn:
            dead = await dead_letters.list_open(conn)
            message = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
        assert calls == 3 and len(dead) == 1 and "Twilio 500" in dead[0]["error"]
        assert message["delivery_status"] == "failed" and "20500" in message["delivery_error"]

        fake.down = False
        async with transaction(pool) as conn:
            assert await dead_letters.replay(conn, dead[0]["id"])
        # Refused while the breaker is open (not counted as an attempt), then the half-open
        # probe goes through.
        await _until_delivered(worker, fake)
        await drain(worker)
    assert len(fake.delivered) == 1
    assert worker.sender.breaker("whatsapp").state == "closed"
    assert (await channels_health(db_url, settings))["whatsapp"] == "active"


async def _until_delivered(worker: DeliveryWorker, fake: FakeTwilio) -> None:
    async def delivered() -> bool:
        await worker.run_once()
        return bool(fake.delivered)

    await eventually(delivered, 10, "a delivery")


async def test_status_callbacks_update_the_message(db_url: str, pool: asyncpg.Pool) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        settings = twilio_settings(fake)
        (message_id,) = await queued_reply(pool, "hello")
        await drain(deliverer(pool, settings))
        sid = fake.requests[0].sid
        assert sid is not None
        async with (
            serve_app(db_url, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as c,
        ):
            for status in ("delivered", "sent", "read"):  # "sent" arrives late: ignored
                params = recorded.payload(
                    "twilio", "whatsapp_status", MessageSid=sid, SmsSid=sid, MessageStatus=status
                )
                params["SmsStatus"] = status
                assert (await post(c, "/whatsapp/status", params)).status_code == 204
            bad = {"MessageSid": sid, "MessageStatus": "delivered"}
            r = await c.post("/whatsapp/status", content=urlencode(bad), headers=signed("/x", bad))
            assert r.status_code == 403
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT delivery_status FROM messages WHERE id = $1", message_id)
            == "read"
        )


async def test_end_to_end_a_question_gets_exactly_one_reply_on_whatsapp(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        settings = twilio_settings(fake)
        async with (
            serve_app(kb_db_url, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as c,
        ):
            for _ in range(2):  # Twilio retries a webhook it thinks failed
                assert (await post(c, "/whatsapp/webhook", incoming())).status_code == 200
        adapters = build_registry(settings)
        agent = QueueWorker(kb_pool, settings, embedder, adapters, name="a1")
        await agent.run_once()
        await agent.run_once()
        await drain(DeliveryWorker(kb_pool, settings, adapters))
    async with kb_pool.acquire() as conn:
        runs = await conn.fetchval("SELECT count(*) FROM agent_runs")
        parts = await conn.fetch(  # in the order they were queued
            "SELECT m.body, m.external_id FROM messages m JOIN outbox o "
            "ON o.topic = 'deliver' AND o.payload->>'message_id' = m.id::text ORDER BY o.id"
        )
    # One reply, in as many parts as 1,600-character WhatsApp messages need, in order.
    assert runs == 1 and [p["Body"] for p in fake.delivered] == [p["body"] for p in parts]
    assert [r.sid for r in fake.requests] == [p["external_id"] for p in parts]
    assert all(len(p["Body"]) <= 1600 for p in fake.delivered)
    assert {p["To"] for p in fake.delivered} == {"whatsapp:+447700900123"}
    assert "password" in " ".join(p["Body"] for p in fake.delivered).lower()
