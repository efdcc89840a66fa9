"""A provider's message id is not ours to trust as unique: a reply answered with an id that is
already stored is recorded as sent like any other, and the worker goes on."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.delivery_pipeline import DeliveryPipeline
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.channels.whatsapp_twilio.test_whatsapp import (
    SID,
    TOKEN,
    incoming,
    post,
    queued_reply,
    twilio_settings,
)
from tests.conftest import serve_app
from tests.fixtures.fake_twilio import FakeTwilio
from tests.fixtures.waiting import eventually

REUSED = "SM" + "f" * 32


async def _states(pool: asyncpg.Pool) -> list[tuple[str, str | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT delivery_status, external_id FROM messages WHERE direction = 'outbound' "
            "ORDER BY created_at, id"
        )
    return [(r["delivery_status"], r["external_id"]) for r in rows]


async def test_replies_answered_with_the_same_sid_are_all_recorded_and_the_worker_lives(
    pool: asyncpg.Pool, db_url: str, embedder: Embedder
) -> None:
    async with FakeTwilio(SID, TOKEN) as fake:
        fake.fixed_sid = REUSED
        settings = twilio_settings(fake)
        await queued_reply(pool, "first reply", "second reply")
        async with pool.acquire() as conn:  # the customer's message is not under test here
            await conn.execute("UPDATE outbox SET processed_at = now() WHERE topic = 'inbound'")
        adapters = build_registry(settings)
        # The whole worker, as `fte worker` runs it: its delivery lane sends both replies.
        worker = QueueWorker(
            pool,
            settings,
            embedder,
            adapters,
            name="w1",
            delivery=DeliveryPipeline(pool, settings, adapters, name="w1"),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop, db_url))
        try:

            async def both_sent() -> bool:
                assert not running.done(), running
                return [s for s, _ in await _states(pool)] == ["sent", "sent"]

            await eventually(both_sent, 60, "both parts sent")
            assert not running.done()
            # Twilio's status callback for that SID reaches the replies that carry it.
            async with (
                serve_app(db_url, settings) as base,
                httpx.AsyncClient(base_url=base, timeout=10) as c,
            ):
                params = {"MessageSid": REUSED, "MessageStatus": "delivered", "AccountSid": SID}
                assert (await post(c, "/whatsapp/status", params)).status_code == 204
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)
    assert [p["Body"] for p in fake.delivered] == ["first reply", "second reply"]
    assert await _states(pool) == [("delivered", REUSED), ("delivered", REUSED)]


async def test_a_reply_with_the_sid_of_an_inbound_message_does_not_hide_new_messages(
    pool: asyncpg.Pool, db_url: str
) -> None:
    """The next inbound message is filed, though a reply's SID equals it."""
    next_sid = "SM" + "2" * 32
    async with FakeTwilio(SID, TOKEN) as fake:
        fake.fixed_sid = next_sid
        settings = twilio_settings(fake)
        await queued_reply(pool, "a reply")
        delivery = DeliveryWorker(pool, settings, build_registry(settings), name="d1")
        assert await delivery.run_once() == 1
        async with (
            serve_app(db_url, settings) as base,
            httpx.AsyncClient(base_url=base, timeout=10) as c,
        ):
            r = await post(c, "/whatsapp/webhook", incoming(sid=next_sid, body="Thanks!"))
            assert r.status_code == 200
    async with pool.acquire() as conn:
        bodies = await conn.fetch(
            "SELECT body FROM messages WHERE direction = 'inbound' ORDER BY created_at"
        )
    assert [b["body"] for b in bodies][-1] == "Thanks!"
    assert await _states(pool) == [("sent", next_sid)]
