"""Email over IMAP/SMTP against real servers: pymap (IMAP) and aiosmtpd (SMTP)."""

from __future__ import annotations

import asyncio
import imaplib
import threading
import time
import uuid

import asyncpg
import pytest

from fte.bus import dead_letters
from fte.channels.imap_smtp.idle import Wake, wait_for_mail
from fte.channels.imap_smtp.poller import MailboxPoller
from fte.channels.imap_smtp.schemas import inbound_message, new_text
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import transaction
from fte.embeddings import Embedder
from fte.intake.service import file_inbound
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.channels.whatsapp_twilio.test_whatsapp import channels_health
from tests.conftest import make_settings
from tests.fixtures import recorded
from tests.fixtures.db import row_counts
from tests.fixtures.mail_servers import (
    IMAP_PASSWORD,
    IMAP_USER,
    deliver_to_mailbox,
    imap_server,
    smtp_server,
)
from tests.fixtures.processes import free_port
from tests.fixtures.replies import drain, queue_replies
from tests.fixtures.rfc5322 import check_headers, msg_ids
from tests.fixtures.waiting import eventually

SUPPORT = "support@cloudsync.example"

FIRST = recorded.raw("imap", "first.eml")
FOLLOW_UP = recorded.raw("imap", "follow_up.eml")


def email_settings(imap_port: int, smtp_port: int = 9) -> Settings:
    return make_settings(
        IMAP_URL=f"imap://demouser:demopass@127.0.0.1:{imap_port}/INBOX",
        SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        EMAIL_FROM=SUPPORT,
        FTE_DELIVERY_BACKOFF_SECONDS="0.01",
    )


def test_quoted_history_and_signatures_are_cut() -> None:
    text = "New question here.\n\nOn Tue, Ann <a@b.c> wrote:\n> old\n"
    assert new_text(text) == "New question here."
    assert new_text("Hi\n-----Original Message-----\nFrom: x") == "Hi"
    assert new_text("Hi there\n--\nJane") == "Hi there"


async def test_mail_is_read_once_by_uid_and_a_reply_joins_its_thread(pool: asyncpg.Pool) -> None:
    with imap_server() as port:
        poller = MailboxPoller(pool, email_settings(port))
        deliver_to_mailbox(port, FIRST)
        assert await poller.poll_once() == 1
        assert await poller.poll_once() == 0  # nothing read twice
        deliver_to_mailbox(port, FOLLOW_UP)
        assert await poller.poll_once() == 1
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT m.body, m.external_id, m.ticket_id, c.external_thread_id "
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "ORDER BY m.created_at"
        )
        ident = await conn.fetchval("SELECT value FROM customer_identities")
        last_uid = await conn.fetchval("SELECT last_uid FROM mailbox_state")
    assert [r["body"] for r in rows] == [
        "I forgot my password. How can I reset it?",
        "Thanks, that worked.",
    ]
    assert rows[0]["ticket_id"] == rows[1]["ticket_id"]
    assert {r["external_thread_id"] for r in rows} == {"<first-1@example.com>"}
    assert ident == "sam@example.com" and last_uid == 102


async def test_end_to_end_one_threaded_reply_over_smtp_after_a_421(
    kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    with imap_server() as imap_port, smtp_server() as (smtp_port, smtp):
        settings = email_settings(imap_port, smtp_port)
        deliver_to_mailbox(imap_port, FIRST)
        poller = MailboxPoller(kb_pool, settings)
        await poller.poll_once()
        await poller.poll_once()
        smtp.refuse.append(421)  # "service not available": retried
        adapters = build_registry(settings)
        await QueueWorker(kb_pool, settings, embedder, adapters, name="a").run_once()
        delivery = DeliveryWorker(kb_pool, settings, adapters, name="d")
        for _ in range(3):
            await delivery.run_once()
    (reply,) = smtp.messages
    assert smtp.refuse == []  # the 421 was answered, and retried
    assert reply["To"] == "sam@example.com" and reply["From"] == SUPPORT
    assert reply["Subject"] == "Re: Password help"
    assert reply["In-Reply-To"] == "<first-1@example.com>"
    assert reply["References"] == "<first-1@example.com>"
    assert "password" in reply.get_content().lower()
    async with kb_pool.acquire() as conn:
        sent = await conn.fetchval("SELECT external_id FROM messages WHERE direction = 'outbound'")
    assert sent == reply["Message-ID"]


async def _filed(pool: asyncpg.Pool, count: int, within: float) -> float:
    """Seconds until `count` inbound messages are filed; fails after `within`."""
    start = time.monotonic()

    async def filed() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM messages") >= count)

    await eventually(filed, within, f"{count} messages filed")
    return time.monotonic() - start


async def test_new_mail_is_filed_within_a_second_while_idling(pool: asyncpg.Pool) -> None:
    with imap_server() as port:
        settings = email_settings(port).model_copy(update={"email_poll_seconds": 600.0})
        poller = MailboxPoller(pool, settings)
        stop = asyncio.Event()
        deliver_to_mailbox(port, FIRST)
        task = asyncio.create_task(poller.run(stop))
        try:
            await _filed(pool, 1, within=10)
            await asyncio.sleep(0.5)  # in IDLE by now; the next poll is ten minutes away
            deliver_to_mailbox(port, FOLLOW_UP)
            waited = await _filed(pool, 2, within=10)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)  # a stop ends the IDLE promptly
    # Filed in about a second (the APPEND wakes the IDLE within milliseconds), not in ten minutes.
    assert poller.idle_offered and waited < 3.0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 2  # nothing read twice
        assert await conn.fetchval("SELECT last_uid FROM mailbox_state") == 102


def test_an_idle_wait_is_bounded_and_can_be_cancelled() -> None:
    with imap_server() as port:
        url = email_settings(port).imap_url
        assert url is not None
        validity, last = _state(port)
        start = time.monotonic()
        wake = wait_for_mail(
            url, validity, last, idle_seconds=0.5, timeout=5, cancel=threading.Event()
        )
        assert wake is Wake.TIMEOUT and time.monotonic() - start < 3
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        wake = wait_for_mail(url, validity, last, idle_seconds=60, timeout=5, cancel=cancel)
        assert wake is Wake.CANCELLED and time.monotonic() - start < 5
        # Mail above the last UID read wakes the wait at once, before any IDLE.
        deliver_to_mailbox(port, FIRST)
        wake = wait_for_mail(
            url, validity, last, idle_seconds=60, timeout=5, cancel=threading.Event()
        )
        assert wake is Wake.NEW_MAIL


def _state(port: int) -> tuple[int, int]:
    """The mailbox's UIDVALIDITY and highest UID, as the poller would have recorded them."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=5)
    imap.login(IMAP_USER, IMAP_PASSWORD)
    imap.select("INBOX", readonly=True)
    _, validity = imap.response("UIDVALIDITY")
    _, found = imap.uid("SEARCH", "ALL")
    imap.logout()
    return int(validity[0] or 0), max((int(u) for u in (found[0] or b"").split()), default=0)


async def test_the_same_message_twice_in_the_mailbox_is_filed_once(pool: asyncpg.Pool) -> None:
    # A mail server delivering twice (or a mailbox read again after a UIDVALIDITY change)
    # gives new UIDs to the same Message-ID.
    with imap_server() as port:
        deliver_to_mailbox(port, FIRST)
        deliver_to_mailbox(port, FIRST)
        assert await MailboxPoller(pool, email_settings(port)).poll_once() == 2
    counts = await row_counts(pool)
    assert (counts["messages"], counts["tickets"], counts["outbox"]) == (1, 1, 1)


async def queued_reply(pool: asyncpg.Pool) -> uuid.UUID:
    """FIRST filed, and one reply to it queued for delivery."""
    message = inbound_message(FIRST, SUPPORT)
    assert message is not None
    filed = await file_inbound(pool, message)
    (reply,) = await queue_replies(
        pool, "email", filed.conversation_id, filed.ticket_id, "Go to Settings, then Password."
    )
    return reply


async def test_a_reply_deep_in_a_thread_has_rfc5322_headers_and_the_whole_chain(
    pool: asyncpg.Pool,
) -> None:
    # Three messages: the customer's first, our reply (<reply-1@...>), their follow-up. Our
    # answer to the follow-up must keep the thread's every id (RFC 5322 §3.6.4).
    with imap_server() as imap_port, smtp_server() as (smtp_port, smtp):
        settings = email_settings(imap_port, smtp_port)
        poller = MailboxPoller(pool, settings)
        deliver_to_mailbox(imap_port, FIRST)
        deliver_to_mailbox(imap_port, FOLLOW_UP)
        assert await poller.poll_once() == 2
        async with pool.acquire() as conn:
            filed = await conn.fetchrow(
                "SELECT conversation_id, ticket_id FROM messages WHERE external_id = $1",
                "<second-2@example.com>",
            )
        await queue_replies(
            pool, "email", filed["conversation_id"], filed["ticket_id"], "Glad it worked."
        )
        await drain(DeliveryWorker(pool, settings, build_registry(settings), name="d"))
    (raw,) = smtp.raw
    headers = check_headers(raw)
    assert headers["in-reply-to"] == "<second-2@example.com>"
    assert msg_ids(headers["references"]) == [
        "<first-1@example.com>",
        "<reply-1@cloudsync.example>",
        "<second-2@example.com>",
    ]
    assert headers["from"] == SUPPORT and headers["to"] == "sam@example.com"
    assert headers["message-id"].endswith("@cloudsync.example>")


async def test_temporary_smtp_refusals_are_retried_until_accepted(pool: asyncpg.Pool) -> None:
    with smtp_server() as (smtp_port, smtp):
        smtp.refuse.extend([451, 452])  # "try again later", as 429/5xx are for HTTP providers
        settings = email_settings(9, smtp_port)
        await queued_reply(pool)
        await drain(DeliveryWorker(pool, settings, build_registry(settings), name="d"))
    (reply,) = smtp.messages
    assert smtp.refuse == [] and reply["In-Reply-To"] == "<first-1@example.com>"
    assert (await row_counts(pool))["dead_letters"] == 0


async def test_a_permanent_smtp_refusal_is_not_retried(pool: asyncpg.Pool) -> None:
    with smtp_server() as (smtp_port, smtp):
        smtp.refuse.extend([550, 550])
        settings = email_settings(9, smtp_port)
        message_id = await queued_reply(pool)
        await drain(DeliveryWorker(pool, settings, build_registry(settings), name="d"))
    assert smtp.messages == [] and smtp.refuse == [550]  # one attempt only
    async with pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
        status = await conn.fetchval(
            "SELECT delivery_status FROM messages WHERE id = $1", message_id
        )
    assert "SMTP 550" in dead["error"] and status == "failed"


async def test_smtp_down_opens_the_breaker_then_a_dead_letter_that_replays_once(
    db_url: str, pool: asyncpg.Pool
) -> None:
    smtp_port = free_port()  # nothing listens yet: connection refused
    settings = email_settings(9, smtp_port).model_copy(
        update={
            "delivery_quick_retries": 2,
            "delivery_max_attempts": 2,
            "delivery_breaker_failures": 3,
            "delivery_breaker_reset_seconds": 0.2,
        }
    )
    message_id = await queued_reply(pool)
    worker = DeliveryWorker(pool, settings, build_registry(settings), name="d")
    await worker.run_once()  # two connections refused; the job waits for its backoff
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
    await worker.run_once()  # the third failure opens the breaker and ends the attempts
    assert worker.sender.breaker("email").state == "open"
    assert (await channels_health(db_url, settings))["email"] == "degraded"
    async with pool.acquire() as conn:
        (dead,) = await dead_letters.list_open(conn)
    assert "SMTP unreachable" in dead["error"]

    with smtp_server(smtp_port) as (_, smtp):  # the server is back
        async with transaction(pool) as conn:
            assert await dead_letters.replay(conn, dead["id"])
            assert not await dead_letters.replay(conn, dead["id"])

        async def probed() -> bool:  # refused while open, then the half-open probe goes through
            await worker.run_once()
            return bool(smtp.messages)

        await eventually(probed, 10, "the half-open probe delivered")
        await drain(worker)
    (reply,) = smtp.messages
    assert reply["In-Reply-To"] == "<first-1@example.com>"
    assert worker.sender.breaker("email").state == "closed"
    async with pool.acquire() as conn:
        sent = await conn.fetchrow(
            "SELECT delivery_status, external_id FROM messages WHERE id = $1", message_id
        )
    assert sent["delivery_status"] == "sent" and sent["external_id"] == reply["Message-ID"]


async def test_a_mail_with_a_broken_sender_is_skipped_and_the_next_one_filed(
    pool: asyncpg.Pool,
) -> None:
    # `From: 0@` makes the standard library's header parser raise (found by the fuzzer).
    broken = b"From: 0@\r\nSubject: x\r\nMessage-ID: <broken@example.com>\r\n\r\nhello\r\n"
    with imap_server() as port:
        deliver_to_mailbox(port, broken)
        deliver_to_mailbox(port, FIRST)
        poller = MailboxPoller(pool, email_settings(port))
        assert await poller.poll_once() == 1
        assert await poller.poll_once() == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT external_id FROM messages") == "<first-1@example.com>"
        assert await conn.fetchval("SELECT last_uid FROM mailbox_state") == 102


async def test_a_wrong_mailbox_password_files_nothing_and_is_reported(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    with imap_server() as port:
        deliver_to_mailbox(port, FIRST)
        url = f"imap://demouser:not-the-pass-7x@127.0.0.1:{port}/INBOX"
        settings = email_settings(port).model_copy(update={"imap_url": url})
        poller = MailboxPoller(pool, settings)
        with pytest.raises(imaplib.IMAP4.error):
            await poller.poll_once()
        stop = asyncio.Event()
        before = len(caplog.records)
        task = asyncio.create_task(poller.run(stop))

        def reported() -> bool:
            logged = caplog.records[before:]
            return any(r.name == "fte.channels.imap_smtp.poller" for r in logged)

        await eventually(reported, 10, "the failed read reported")
        assert not task.done()  # the worker keeps going, and stops when told
        stop.set()
        await asyncio.wait_for(task, 5)
    assert "demouser@127.0.0.1" in caplog.text and "not-the-pass-7x" not in caplog.text
    assert (await row_counts(pool))["messages"] == 0
