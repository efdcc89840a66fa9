"""Gmail: Pub/Sub pushes against a real server and database, mail read and replies sent through
Google's own client libraries to a local server speaking the Gmail API's REST format."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY

from fte.auth import service as auth
from fte.bus import dead_letters
from fte.channels.gmail.watch import WatchRenewer, watch_status
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import transaction
from fte.embeddings import Embedder
from fte.worker.queue_worker import DeliveryWorker, QueueWorker
from tests.conftest import make_settings, serve_app
from tests.fixtures.db import row_counts
from tests.fixtures.fake_gmail import FakeGmail, Signer
from tests.fixtures.processes import free_port, start_worker
from tests.fixtures.replies import deliverer, drain, queue_replies
from tests.fixtures.rfc5322 import check_headers, msg_ids
from tests.fixtures.waiting import eventually

ADDRESS = "support@acme.example"
CUSTOMER = "sam@customer.example"
PUSH_TOKEN = "pubsub-push-secret"
TOPIC = "projects/acme/topics/gmail"
AUDIENCE = "https://fte.acme.example/gmail/webhook"
PUSHER = "gmail-push@acme.iam.gserviceaccount.com"
WEBHOOK = f"/gmail/webhook?token={PUSH_TOKEN}"


def gmail_settings(
    fake: FakeGmail, tmp_path: Path, credentials_json: dict[str, str] | None = None, **env: str
) -> Settings:
    credentials = tmp_path / "gmail-credentials.json"
    credentials.write_text(json.dumps(credentials_json or fake.credentials()))
    values = {
        "GMAIL_CREDENTIALS_FILE": str(credentials),
        "GMAIL_PUBSUB_TOPIC": TOPIC,
        "GMAIL_ADDRESS": ADDRESS,
        "GMAIL_PUSH_TOKEN": PUSH_TOKEN,
        "GMAIL_API_BASE": fake.base_url,
        "GMAIL_TOKEN_URI": fake.token_uri,
        "GMAIL_CERTS_URL": fake.certs_url,
        "FTE_DELIVERY_BACKOFF_SECONDS": "0.01",
        **env,
    }
    return make_settings(**values)


def customer_mail(
    body: str = "How do I reset my password?\n\nThanks,\nSam\n-- \nSam Doe | Customer Inc.",
    subject: str = "Password help",
    reply_to: EmailMessage | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Sam Doe <{CUSTOMER}>"
    mail["To"] = ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="customer.example")
    if reply_to is not None:
        mail["In-Reply-To"] = reply_to["Message-ID"]
        mail["References"] = reply_to["Message-ID"]
    mail.set_content(body)
    return mail


@pytest.fixture
async def fake() -> AsyncIterator[FakeGmail]:
    async with FakeGmail(ADDRESS) as server:
        yield server


@pytest.fixture
async def gm(db_url: str, fake: FakeGmail, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_app(db_url, gmail_settings(fake, tmp_path)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


async def push(c: httpx.AsyncClient, fake: FakeGmail, path: str = WEBHOOK, **headers: str):
    return await c.post(
        path, content=fake.push_body(), headers={"Content-Type": "application/json", **headers}
    )


async def set_cursor(pool: asyncpg.Pool, history_id: int) -> None:
    """As `setup-watch` leaves it: mail after this history id is new."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO gmail_mailboxes (mailbox, history_id) VALUES ($1, $2)", ADDRESS, history_id
        )


async def test_a_push_files_the_new_mail_once_with_gmail_ids_and_no_quoted_text(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool
) -> None:
    await set_cursor(pool, fake.history_id)
    body = (
        "My sync is stuck at 99%.\n\nOn Mon, 23 Nov 2026, Support <support@acme.example> wrote:\n"
        "> Anything else?\n"
    )
    arrived = fake.receive(customer_mail(body=body).as_bytes())
    first = await push(gm, fake)
    again = await push(gm, fake)  # Pub/Sub redelivers
    assert first.status_code == again.status_code == 200
    assert first.json() == {"filed": 1} and again.json() == {"filed": 0}
    async with pool.acquire() as conn:
        msg = await conn.fetchrow("SELECT * FROM messages")
        thread = await conn.fetchval("SELECT external_thread_id FROM conversations")
        cursor = await conn.fetchval("SELECT history_id FROM gmail_mailboxes")
    assert msg["channel"] == "gmail" and msg["external_id"] == arrived.id
    assert thread == arrived.thread_id and cursor == fake.history_id
    assert msg["body"] == "My sync is stuck at 99%."
    assert msg["metadata"]["reply_to"] == CUSTOMER
    counts = await row_counts(pool)
    assert counts["messages"] == 1 and counts["outbox"] == 1
    # The redelivered push named history already read: Gmail was not asked again.
    assert sum("/history" in call for call in fake.calls) == 1


async def test_a_push_whose_history_was_read_by_a_lost_race_files_nothing_twice(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool
) -> None:
    await set_cursor(pool, fake.history_id)
    fake.receive(customer_mail().as_bytes())
    fake.receive(customer_mail(body="A second question", subject="Other").as_bytes())
    results = await asyncio.gather(*(push(gm, fake) for _ in range(3)))
    assert {r.status_code for r in results} == {200}
    assert sum(r.json()["filed"] for r in results) == 2
    assert (await row_counts(pool))["messages"] == 2


@pytest.mark.parametrize("path", ["/gmail/webhook", "/gmail/webhook?token=wrong-secret"])
async def test_a_missing_or_wrong_push_token_is_refused_and_nothing_is_read(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool, path: str
) -> None:
    fake.receive(customer_mail().as_bytes())
    r = await push(gm, fake, path)
    assert r.status_code == 403 and "push token" in r.json()["error"]
    assert (await row_counts(pool))["messages"] == 0 and fake.calls == []


@pytest.fixture
async def oidc(db_url: str, fake: FakeGmail, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = gmail_settings(
        fake,
        tmp_path,
        GMAIL_PUSH_TOKEN="",
        GMAIL_PUSH_AUDIENCE=AUDIENCE,
        GMAIL_PUSH_SERVICE_ACCOUNT=PUSHER,
    )
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        yield c


async def test_an_oidc_push_signed_by_google_for_our_audience_is_accepted(
    oidc: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool
) -> None:
    await set_cursor(pool, fake.history_id)
    fake.receive(customer_mail().as_bytes())
    token = fake.sign_push_token(AUDIENCE, PUSHER)
    r = await push(oidc, fake, "/gmail/webhook", Authorization=f"Bearer {token}")
    assert r.status_code == 200 and r.json() == {"filed": 1}


@pytest.mark.parametrize("case", ["missing", "wrong audience", "bad signature", "other account"])
async def test_bad_oidc_pushes_are_refused_and_nothing_is_written(
    oidc: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool, case: str
) -> None:
    await set_cursor(pool, fake.history_id)
    fake.receive(customer_mail().as_bytes())
    headers = {}
    if case == "wrong audience":
        headers["Authorization"] = "Bearer " + fake.sign_push_token("https://other.example", PUSHER)
    elif case == "bad signature":
        forged = Signer(kid=fake.signer.kid)  # same key id, another key
        claims = json.loads(json.dumps({"iss": "https://accounts.google.com", "aud": AUDIENCE}))
        headers["Authorization"] = "Bearer " + forged.sign(
            {**claims, "email": PUSHER, "email_verified": True, "iat": 0, "exp": 2**40}
        )
    elif case == "other account":
        headers["Authorization"] = "Bearer " + fake.sign_push_token(AUDIENCE, "x@evil.example")
    r = await push(oidc, fake, "/gmail/webhook", **headers)
    assert r.status_code == 403, r.text
    reason = {
        "missing": "missing Authorization",
        "wrong audience": "audience",
        "bad signature": "signature",
        "other account": "another service account",
    }[case]
    assert reason in r.json()["error"], r.text
    assert (await row_counts(pool))["messages"] == 0
    assert not any("/gmail/v1/" in call for call in fake.calls)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (b'{"subscription": "s"}', "message"),
        (b'{"message": {"data": "%%%"}}', "message.data"),
        (b'{"message": {"data": "eyJhIjoxfQ=="}}', "message.data.emailAddress"),  # {"a":1}
    ],
)
async def test_malformed_pushes_get_a_422_naming_the_field(
    gm: httpx.AsyncClient, pool: asyncpg.Pool, body: bytes, field: str
) -> None:
    r = await gm.post(WEBHOOK, content=body)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == field
    assert (await row_counts(pool))["messages"] == 0


async def test_a_push_for_another_mailbox_is_acknowledged_and_ignored(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool
) -> None:
    fake.receive(customer_mail().as_bytes())
    body = fake.push_body(address="someone@else.example")
    r = await gm.post(WEBHOOK, content=body)
    assert r.status_code == 200 and r.json() == {"ignored": "another mailbox"}
    assert (await row_counts(pool))["messages"] == 0


async def test_a_history_id_gmail_forgot_falls_back_to_the_latest_messages(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    await set_cursor(pool, 10)
    fake.oldest_history = fake.history_id  # our cursor is older than the history Gmail keeps
    fake.receive(customer_mail().as_bytes())
    with caplog.at_level(logging.WARNING, logger="fte.channels.gmail.sync"):
        r = await push(gm, fake)
    assert r.status_code == 200 and r.json() == {"filed": 1}
    assert any("too old" in rec.getMessage() for rec in caplog.records)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT history_id FROM gmail_mailboxes") == fake.history_id


async def test_gmail_down_answers_503_so_pubsub_delivers_again(
    gm: httpx.AsyncClient, fake: FakeGmail, pool: asyncpg.Pool
) -> None:
    await set_cursor(pool, fake.history_id)
    fake.receive(customer_mail().as_bytes())
    fake.down = True
    assert (await push(gm, fake)).status_code == 503
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT history_id FROM gmail_mailboxes") < fake.history_id
    fake.down = False
    assert (await push(gm, fake)).json() == {"filed": 1}


async def test_the_channel_is_404_when_not_configured(client: httpx.AsyncClient) -> None:
    r = await client.post("/gmail/webhook", content=b"{}")
    assert r.status_code == 404 and "not configured" in r.json()["error"]


async def queued_reply(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, settings: Settings
) -> uuid.UUID:
    """A customer's email filed through a push, and a reply queued for it."""
    await set_cursor(pool, fake.history_id)
    fake.receive(customer_mail().as_bytes())
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        assert (await push(c, fake)).json() == {"filed": 1}
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT conversation_id, ticket_id FROM messages")
    (reply,) = await queue_replies(
        pool, "gmail", row["conversation_id"], row["ticket_id"], "Hello Sam, here is how."
    )
    return reply


async def test_a_gmail_reply_has_rfc5322_headers_and_the_whole_chain(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    await set_cursor(pool, fake.history_id)
    first = customer_mail()
    ours = customer_mail(subject="Re: Password help", reply_to=first)  # stands in for our reply
    follow_up = customer_mail(body="It worked, thanks.", subject="Re: Password help")
    follow_up["In-Reply-To"] = ours["Message-ID"]
    follow_up["References"] = f"{first['Message-ID']} {ours['Message-ID']}"
    fake.receive(follow_up.as_bytes())
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        assert (await push(c, fake)).json() == {"filed": 1}
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT conversation_id, ticket_id FROM messages")
    await queue_replies(pool, "gmail", row["conversation_id"], row["ticket_id"], "Glad it did.")
    await drain(deliverer(pool, settings))
    (sent,) = fake.sent
    headers = check_headers(sent.raw)
    assert headers["in-reply-to"] == follow_up["Message-ID"]
    assert msg_ids(headers["references"]) == [
        first["Message-ID"],
        ours["Message-ID"],
        follow_up["Message-ID"],
    ]
    assert headers["from"] == ADDRESS and headers["to"] == CUSTOMER


async def test_429_and_500_are_retried_until_gmail_accepts(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    message_id = await queued_reply(db_url, pool, fake, settings)
    fake.failures.extend([429, 500])
    await drain(deliverer(pool, settings))
    assert fake.send_attempts == [429, 500, 200]
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    assert row["delivery_status"] == "sent" and row["external_id"] == fake.sent[0].id
    assert (await row_counts(pool))["dead_letters"] == 0


async def test_a_service_account_acting_as_the_mailbox_sends_the_reply(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(
        fake, tmp_path, fake.service_account_credentials(), GMAIL_USER_ID=ADDRESS
    )
    await queued_reply(db_url, pool, fake, settings)
    await drain(deliverer(pool, settings))
    assert len(fake.sent) == 1 and set(fake.token_subjects) == {ADDRESS}


async def test_revoked_credentials_disable_gmail_and_the_reply_waits_until_they_work(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path, FTE_CHANNEL_PROBE_SECONDS="0.01")
    message_id = await queued_reply(db_url, pool, fake, settings)
    owner_token = fake.refresh_token
    fake.refresh_token = "revoked"  # the mailbox's owner withdrew our access
    worker = deliverer(pool, settings)
    await drain(worker)
    async with pool.acquire() as conn:
        dead = await dead_letters.list_open(conn)
        message = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    assert dead == [] and message["delivery_status"] == "queued"
    assert "invalid_grant" in message["delivery_error"]
    assert fake.sent == [] and worker.sender.breaker("gmail").state == "closed"
    assert (await channels_health(db_url, settings))["gmail"] == "disabled"

    fake.refresh_token = owner_token  # access granted again: the next try goes through
    async with pool.acquire() as conn:  # its wait is over (as after FTE_CHANNEL_PROBE_SECONDS)
        await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
    await drain(worker)
    assert len(fake.sent) == 1
    # Not disabled any more (degraded only by the watch this test never set up).
    assert (await channels_health(db_url, settings))["gmail"] == "degraded"


async def test_the_watch_renewal_disables_gmail_on_revoked_credentials_and_enables_it_back(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path, FTE_GMAIL_WATCH_CHECK_SECONDS="0.05")
    owner_token = fake.refresh_token
    fake.refresh_token = "revoked"
    stop = asyncio.Event()
    task = asyncio.create_task(WatchRenewer(pool, settings).run(stop))
    try:
        await eventually_health(db_url, pool, settings, "disabled")
        fake.refresh_token = owner_token
        await eventually_health(db_url, pool, settings, "active")
    finally:
        stop.set()
        await task
    assert len(fake.watch_calls) >= 1


async def eventually_health(
    db_url: str, pool: asyncpg.Pool, settings: Settings, state: str
) -> None:
    """Wait for the renewer to record the channel's state, then read it from /health."""
    for _ in range(100):
        async with pool.acquire() as conn:
            disabled = await conn.fetchval(
                "SELECT count(*) FROM channel_state "
                "WHERE channel = 'gmail' AND disabled_at IS NOT NULL"
            )
        if bool(disabled) == (state == "disabled"):
            break
        await asyncio.sleep(0.05)
    health = (await channels_health(db_url, settings))["gmail"]
    assert (health == "disabled") == (state == "disabled"), health


async def channels_health(db_url: str, settings: Settings) -> dict[str, str]:
    async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
        r = await c.get("/health")
    assert r.status_code == 200
    channels: dict[str, str] = r.json()["channels"]
    return channels


async def test_gmail_down_opens_the_breaker_then_a_dead_letter_that_replays_once(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(
        fake,
        tmp_path,
        FTE_DELIVERY_QUICK_RETRIES="2",
        FTE_DELIVERY_MAX_ATTEMPTS="2",
        FTE_DELIVERY_BREAKER_FAILURES="3",
        FTE_DELIVERY_BREAKER_RESET_SECONDS="0.2",
    )
    message_id = await queued_reply(db_url, pool, fake, settings)
    async with pool.acquire() as conn:  # a watch, so only the breaker can degrade the channel
        await conn.execute(
            "UPDATE gmail_mailboxes SET watch_expires_at = now() + interval '6 days'"
        )
    fake.down = True
    before = len(fake.calls)
    worker = deliverer(pool, settings)
    await worker.run_once()  # two calls fail; the job waits for its backoff
    async with pool.acquire() as conn:
        await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
    await worker.run_once()  # one more failure opens the breaker: the next call is refused
    assert worker.sender.breaker("gmail").state == "open"
    assert (await channels_health(db_url, settings))["gmail"] == "degraded"
    async with pool.acquire() as conn:
        dead = await dead_letters.list_open(conn)
        message = await conn.fetchrow("SELECT * FROM messages WHERE id = $1", message_id)
    assert len(dead) == 1 and "Gmail 500" in dead[0]["error"] and "backendError" in dead[0]["error"]
    assert message["delivery_status"] == "failed"
    # Each attempt read the original's headers, then failed (the fake is down for all calls).
    assert len(fake.calls[before:]) == 3 and all("/messages/" in c for c in fake.calls[before:])

    fake.down = False
    async with transaction(pool) as conn:
        assert await dead_letters.replay(conn, dead[0]["id"])

    async def delivered() -> bool:
        await worker.run_once()
        return bool(fake.sent)

    await eventually(delivered, 10, "the replayed reply sent")
    await drain(worker)
    assert len(fake.sent) == 1
    assert worker.sender.breaker("gmail").state == "closed"
    assert (await channels_health(db_url, settings))["gmail"] == "active"


async def test_end_to_end_an_email_gets_exactly_one_threaded_reply(
    kb_db_url: str, kb_pool: asyncpg.Pool, embedder: Embedder, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    original = customer_mail()
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        key = None
        async with kb_pool.acquire() as conn:
            key = (await auth.create_api_key(conn, "ops", "admin")).key
        watch = await c.post("/gmail/setup-watch", headers={"X-API-Key": key})
        assert watch.status_code == 200, watch.text
        arrived = fake.receive(original.as_bytes())
        for _ in range(2):  # Pub/Sub redelivers
            assert (await push(c, fake)).status_code == 200
    adapters = build_registry(settings)
    agent = QueueWorker(kb_pool, settings, embedder, adapters, name="a1")
    await agent.run_once()
    await agent.run_once()
    await drain(DeliveryWorker(kb_pool, settings, adapters))
    assert len(fake.sent) == 1
    reply = fake.sent[0]
    parsed = reply.parsed
    assert reply.thread_id == arrived.thread_id
    assert parsed["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in parsed["References"].split()
    assert parsed["Subject"] == "Re: Password help"
    assert parsed["To"] == CUSTOMER and parsed["From"] == ADDRESS
    assert "password" in parsed.get_content().lower()
    async with kb_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM agent_runs") == 1
        sent = await conn.fetchrow("SELECT * FROM messages WHERE direction = 'outbound'")
    assert sent["external_id"] == reply.id and sent["delivery_status"] == "sent"
    # Our own reply is in the mailbox's history too, but never filed as a customer's message.
    async with (
        serve_app(kb_db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        assert (await push(c, fake)).json() == {"filed": 0}


def expiry_gauge() -> float | None:
    return REGISTRY.get_sample_value("fte_gmail_watch_expiry_timestamp_seconds")


async def test_setup_watch_is_admin_only_and_stores_the_expiry(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    async with pool.acquire() as conn:
        admin = (await auth.create_api_key(conn, "ops", "admin")).key
        agent = (await auth.create_api_key(conn, "bot", "agent")).key
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        assert (await c.post("/gmail/setup-watch")).status_code == 401
        assert (await c.post("/gmail/setup-watch", headers={"X-API-Key": agent})).status_code == 403
        assert fake.watch_calls == []
        assert (await c.get("/health")).json()["channels"]["gmail"] == "degraded"  # no watch
        r = await c.post("/gmail/setup-watch", headers={"X-API-Key": admin})
        assert r.status_code == 200
        health = (await c.get("/health")).json()
    assert health["channels"]["gmail"] == "active" and "channel_problems" not in health
    assert fake.watch_calls == [
        {"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE"}
    ]
    assert 6.9 * 86400 < r.json()["seconds_left"] <= 7 * 86400
    async with pool.acquire() as conn:
        status = await watch_status(conn)
        stored = await conn.fetchrow("SELECT * FROM gmail_mailboxes")
    assert status is not None and stored["history_id"] == fake.history_id
    assert expiry_gauge() == pytest.approx(status.expires_at.timestamp())


async def test_a_watch_gmail_refuses_is_a_503_naming_gmails_reason(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path, GMAIL_PUBSUB_TOPIC="gmail-topic")
    async with pool.acquire() as conn:
        admin = (await auth.create_api_key(conn, "ops", "admin")).key
    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as c,
    ):
        r = await c.post("/gmail/setup-watch", headers={"X-API-Key": admin})
    assert r.status_code == 503 and "Invalid topicName" in r.json()["error"]
    async with pool.acquire() as conn:
        assert await watch_status(conn) is None


async def test_a_watch_near_expiry_degrades_health_until_the_worker_renews_it(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    renewer = WatchRenewer(pool, settings)
    assert await renewer.renew_if_due()  # no watch yet: set one up
    assert not await renewer.renew_if_due()  # 7 days left: nothing to do
    assert len(fake.watch_calls) == 1
    assert (await channels_health(db_url, settings))["gmail"] == "active"

    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE gmail_mailboxes SET watch_expires_at = now() + interval '3 hours'"
        )
    async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
        health = (await c.get("/health")).json()
    assert health["channels"]["gmail"] == "degraded"
    assert "expires" in health["channel_problems"]["gmail"]

    fake.receive(customer_mail().as_bytes())  # a push that never came: the check reads it
    await renewer.run_once()
    assert len(fake.watch_calls) == 2
    assert (await row_counts(pool))["messages"] == 1
    assert (await channels_health(db_url, settings))["gmail"] == "active"
    async with pool.acquire() as conn:
        status = await watch_status(conn)
    assert status is not None and status.seconds_left > 6.9 * 86400
    assert expiry_gauge() == pytest.approx(status.expires_at.timestamp())


async def test_an_expired_watch_is_degraded_and_renewal_failures_are_survived(
    db_url: str, pool: asyncpg.Pool, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path, FTE_GMAIL_WATCH_CHECK_SECONDS="0.05")
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO gmail_mailboxes (mailbox, history_id, watch_expires_at) "
            "VALUES ($1, $2, now() - interval '1 hour')",
            ADDRESS,
            fake.history_id,
        )
    assert (await channels_health(db_url, settings))["gmail"] == "degraded"
    fake.down = True
    stop = asyncio.Event()
    task = asyncio.create_task(WatchRenewer(pool, settings).run(stop))

    def failed_checks() -> bool:
        return sum(c.endswith("/watch") for c in fake.calls) >= 3

    await eventually(failed_checks, 10, "several failed renewals")
    assert not task.done()  # the loop goes on
    fake.down = False
    await eventually(lambda: fake.watch_calls, 10, "a renewed watch")
    stop.set()
    await task
    assert len(fake.watch_calls) >= 1
    assert (await channels_health(db_url, settings))["gmail"] == "active"


async def test_a_worker_process_sets_the_watch_up_and_exports_its_expiry(
    db_url: str, fake: FakeGmail, tmp_path: Path
) -> None:
    settings = gmail_settings(fake, tmp_path)
    port = free_port()
    env = {
        "GMAIL_CREDENTIALS_FILE": str(settings.gmail_credentials_file),
        "GMAIL_PUBSUB_TOPIC": TOPIC,
        "GMAIL_ADDRESS": ADDRESS,
        "GMAIL_PUSH_TOKEN": PUSH_TOKEN,
        "GMAIL_API_BASE": fake.base_url,
        "GMAIL_TOKEN_URI": fake.token_uri,
        "FTE_METRICS_PORT": str(port),
    }
    worker = await asyncio.to_thread(start_worker, db_url, env)
    try:
        await eventually(lambda: fake.watch_calls, 30, "the watch set up")
        assert len(fake.watch_calls) == 1, worker.output()
        async with httpx.AsyncClient() as c:

            async def expiry() -> float:  # the gauge is set once the watch is stored
                metrics = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
                return next(
                    float(ln.split()[1])
                    for ln in metrics.splitlines()
                    if ln.startswith("fte_gmail_watch_expiry_timestamp_seconds ")
                )

            value = await eventually(expiry, 5, "the watch expiry exported")
    finally:
        await asyncio.to_thread(worker.stop)
    conn = await asyncpg.connect(db_url)
    try:
        expires = await conn.fetchval("SELECT watch_expires_at FROM gmail_mailboxes")
    finally:
        await conn.close()
    assert value == pytest.approx(expires.timestamp())
