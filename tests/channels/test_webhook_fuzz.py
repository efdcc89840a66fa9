"""Fuzzing the provider webhooks with malformed but correctly signed bodies: a 4xx (or an
acknowledged no-op) every time, never a 500, nothing written. The mailbox is email's webhook:
any mail in it is read or skipped, never an error."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fte.auth import service as auth
from fte.channels.chatwoot.webhook import signature as chatwoot_signature
from fte.channels.imap_smtp.schemas import inbound_message as email_message
from tests.channels.chatwoot.test_chatwoot import MESSAGE_CREATED, chatwoot_settings, headers
from tests.channels.gmail.test_gmail import ADDRESS, WEBHOOK, gmail_settings, set_cursor
from tests.channels.whatsapp_twilio.test_whatsapp import incoming, signed, twilio_settings
from tests.cli.test_dlq import fte
from tests.conftest import serve_app
from tests.fixtures import recorded
from tests.fixtures.db import row_counts
from tests.fixtures.fake_gmail import FakeGmail

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@pytest.fixture
async def both(db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    cw = chatwoot_settings()
    merged = twilio_settings(
        CHATWOOT_BASE_URL=str(cw.chatwoot_base_url),
        CHATWOOT_API_TOKEN=str(cw.chatwoot_api_token),
        CHATWOOT_ACCOUNT_ID=str(cw.chatwoot_account_id),
        CHATWOOT_WEBHOOK_SECRET=str(cw.chatwoot_webhook_secret),
    )
    async with serve_app(db_url, merged) as base, httpx.AsyncClient(base_url=base) as c:
        yield c


def _message_bodies() -> st.SearchStrategy[bytes]:
    """The documented payload with a sender id that is no id, and one more field replaced by
    junk or removed; or random bytes."""
    bad_ids = st.one_of(
        st.none(), st.booleans(), st.floats(), st.just(""), st.lists(st.integers(), max_size=2)
    )

    def mangle(key: str, value: object, bad_id: object, drop: bool) -> bytes:
        payload = {**MESSAGE_CREATED, "sender": {**MESSAGE_CREATED["sender"], "id": bad_id}}
        if drop:
            payload.pop(key)
        else:
            payload[key] = value
        return json.dumps(payload).encode()

    keys = st.sampled_from(sorted(MESSAGE_CREATED))
    return st.one_of(st.builds(mangle, keys, junk, bad_ids, st.booleans()), st.binary(max_size=200))


@FUZZ
@given(body=_message_bodies())
async def test_chatwoot_never_500s_and_writes_nothing_for_malformed_payloads(
    both: httpx.AsyncClient, pool: asyncpg.Pool, body: bytes
) -> None:
    r = await both.post("/chatwoot/webhook", content=body, headers=headers(body))
    assert r.status_code < 500, r.text
    assert r.status_code >= 400 or "ignored" in r.json(), r.text
    assert (await row_counts(pool))["messages"] == 0


@FUZZ
@given(
    key=st.sampled_from(["MessageSid", "From", "Body", "NumMedia", "MediaUrl0"]),
    value=st.one_of(st.just(""), st.text(max_size=40).filter(lambda v: "+" not in v)),
)
async def test_whatsapp_never_500s_and_writes_nothing_for_malformed_parameters(
    both: httpx.AsyncClient, pool: asyncpg.Pool, key: str, value: str
) -> None:
    params = incoming(**{key: value})
    # A number without its international '+' cannot be read: the message is always invalid,
    # whatever else the junk makes of it.
    params["From"] = "whatsapp:" + (value if key == "From" else "447700900123")
    r = await both.post(
        "/whatsapp/webhook", content=urlencode(params), headers=signed("/whatsapp/webhook", params)
    )
    assert 400 <= r.status_code < 500, r.text
    assert (await row_counts(pool))["messages"] == 0


@FUZZ
@given(body=st.binary(max_size=300))
async def test_whatsapp_never_500s_for_arbitrary_bytes(
    both: httpx.AsyncClient, pool: asyncpg.Pool, body: bytes
) -> None:
    hdrs = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"}
    r = await both.post("/whatsapp/webhook", content=body, headers=hdrs)
    assert 400 <= r.status_code < 500, r.text
    assert (await row_counts(pool))["messages"] == 0


@FUZZ
@given(
    key=st.sampled_from(["MessageSid", "MessageStatus", "ErrorCode", "ErrorMessage", "To"]),
    value=st.one_of(st.just(""), st.text(max_size=80)),
    drop=st.booleans(),
)
@example(key="MessageSid", value="\x00", drop=False)  # PostgreSQL cannot store a NUL
@example(key="ErrorMessage", value="\x00", drop=False)
async def test_twilio_status_callbacks_never_500_and_change_no_other_message(
    both: httpx.AsyncClient, pool: asyncpg.Pool, key: str, value: str, drop: bool
) -> None:
    params = {
        "MessageSid": "SM" + "9" * 32,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "a" * 32,
        "To": "whatsapp:+447700900123",
        "ApiVersion": "2010-04-01",
    }
    if drop:
        params.pop(key, None)
    else:
        params[key] = value
    r = await both.post(
        "/whatsapp/status", content=urlencode(params), headers=signed("/whatsapp/status", params)
    )
    assert r.status_code < 500, r.text
    assert r.status_code == 204 or 400 <= r.status_code < 500
    assert (await row_counts(pool))["messages"] == 0


def _approval_and_status_bodies() -> st.SearchStrategy[bytes]:
    """An agent's `/approve` note or a status change, with one field replaced by junk."""
    note = {
        **MESSAGE_CREATED,
        "content": "/approve",
        "message_type": "outgoing",
        "private": True,
        "content_attributes": {"in_reply_to": 1001},
        "sender": {"id": 9, "name": "Alex", "type": "user"},
    }
    change = recorded.payload("chatwoot", "conversation_status_changed")

    def mangle(base: dict[str, object], key: str, value: object) -> bytes:
        return json.dumps({**base, key: value}).encode()

    return st.one_of(
        st.builds(
            mangle,
            st.just(note),
            st.sampled_from(["content_attributes", "sender", "conversation", "id", "content"]),
            junk,
        ),
        st.builds(mangle, st.just(change), st.sampled_from(["id", "status"]), junk),
    )


@FUZZ
@given(body=_approval_and_status_bodies())
async def test_chatwoot_approvals_and_status_changes_never_500_and_send_nothing(
    both: httpx.AsyncClient, pool: asyncpg.Pool, body: bytes
) -> None:
    r = await both.post("/chatwoot/webhook", content=body, headers=headers(body))
    assert r.status_code < 500, r.text
    counts = await row_counts(pool)
    assert (counts["messages"], counts["outbox"]) == (0, 0)


def _emails() -> st.SearchStrategy[bytes]:
    """A customer's email with one header or the body replaced by junk; or random bytes."""
    headers = {
        "From": "Sam <sam@example.com>",
        "To": "support@cloudsync.example",
        "Subject": "Help",
        "Message-ID": "<m-1@example.com>",
        "References": "<r-1@example.com>",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "7bit",
    }
    text = st.text(max_size=60).map(lambda t: t.replace("\r", "").replace("\n", " "))

    def build(key: str, value: str, body: bytes) -> bytes:
        lines = [f"{k}: {value if k == key else v}" for k, v in headers.items()]
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body

    return st.one_of(
        st.builds(build, st.sampled_from(sorted(headers)), text, st.binary(max_size=200)),
        st.binary(max_size=400),
    )


@settings(max_examples=300, deadline=None)
@given(raw=_emails())
def test_any_mail_in_the_mailbox_is_read_or_skipped_never_an_error(raw: bytes) -> None:
    message = email_message(raw, "support@cloudsync.example")
    if message is not None:
        assert "@" in message.identity.value and message.body
        assert len(message.body) <= 20_000


@pytest.fixture
async def gmail(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeGmail]]:
    async with FakeGmail(ADDRESS) as fake:
        fake.receive(b"From: Sam <sam@customer.example>\r\nSubject: hi\r\n\r\nHello\r\n")
        await set_cursor(pool, fake.history_id)  # that message is older than the watch
        settings = gmail_settings(fake, tmp_path)
        async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
            yield c, fake


def _push_bodies() -> st.SearchStrategy[bytes]:
    """Pub/Sub's envelope with Gmail's data, one field of either replaced by junk or removed;
    data that is not base64 of JSON; or random bytes."""
    good = {"emailAddress": ADDRESS, "historyId": 1}

    def mangle(key: str, value: object, drop: bool, in_data: bool) -> bytes:
        data = dict(good)
        envelope: dict[str, object] = {
            "message": {"messageId": "1", "publishTime": "2026-11-23T10:00:00Z"},
            "subscription": "projects/acme/subscriptions/gmail-push",
        }
        target: dict[str, object] = data if in_data else envelope
        if drop:
            target.pop(key, None)
        else:
            target[key] = value
        message = envelope.get("message")
        if isinstance(message, dict):
            message["data"] = base64.b64encode(json.dumps(data).encode()).decode()
        return json.dumps(envelope).encode()

    keys = st.sampled_from(["emailAddress", "historyId", "message", "subscription"])
    junk_data = st.builds(
        lambda raw: json.dumps({"message": {"data": raw}}).encode(),
        st.one_of(
            st.text(max_size=40), st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
        ),
    )
    return st.one_of(
        st.builds(mangle, keys, junk, st.booleans(), st.booleans()),
        junk_data,
        st.binary(max_size=200),
    )


@FUZZ
@given(body=_push_bodies())
async def test_gmail_never_500s_and_writes_nothing_for_malformed_pushes(
    gmail: tuple[httpx.AsyncClient, FakeGmail], pool: asyncpg.Pool, body: bytes
) -> None:
    client, _ = gmail
    r = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text
    # A body that happens to be a valid push for another history is acknowledged: the mailbox's
    # history (the fake's one message predates the cursor) files nothing.
    assert r.status_code >= 400 or r.json().get("filed") == 0 or "ignored" in r.json(), r.text
    assert (await row_counts(pool))["messages"] == 0


# Inputs an attacker found that answered 500 (issue 17, item 9): each correctly signed, each a
# 4xx now (or a 503 when the provider's own answer is at fault), and nothing written.
NESTED = b'{"event": "message_created", "content": ' + b"[" * 29_990 + b"]" * 29_990 + b"}"


def _chatwoot_edge(case: str) -> tuple[bytes, dict[str, str | bytes]]:
    if case == "nested":  # 60 KB, inside the body limit
        return NESTED, {**headers(NESTED)}
    if case == "lone-surrogate":  # valid JSON, but no UTF-8 text can hold it
        body = json.dumps({**MESSAGE_CREATED, "content": "hi \ud800"}).encode()
        assert b"\\ud800" in body
        return body, {**headers(body)}
    body = json.dumps(MESSAGE_CREATED).encode()
    stamp = "9" * 400 if case == "long-timestamp" else "\u00b2"
    secret = str(chatwoot_settings().chatwoot_webhook_secret)
    hdrs: dict[str, str | bytes] = {**headers(body, stamp=0)}
    # Header bytes are Latin-1 on the wire: '²' arrives as the one character it is.
    hdrs["X-Chatwoot-Timestamp"] = stamp.encode("latin-1")
    hdrs["X-Chatwoot-Signature"] = chatwoot_signature(secret, stamp, body)
    return body, hdrs


@pytest.mark.parametrize("case", ["nested", "lone-surrogate", "long-timestamp", "digit-timestamp"])
async def test_chatwoot_edge_inputs_with_a_valid_signature_are_4xx(
    both: httpx.AsyncClient, pool: asyncpg.Pool, case: str
) -> None:
    body, hdrs = _chatwoot_edge(case)
    r = await both.post("/chatwoot/webhook", content=body, headers=hdrs)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]
    assert (await row_counts(pool))["messages"] == 0


async def test_twilio_num_media_that_is_a_digit_but_no_number_is_a_422(
    both: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    params = incoming(NumMedia="\u00b2")  # '²': str.isdigit() says yes, int() says no
    r = await both.post(
        "/whatsapp/webhook", content=urlencode(params), headers=signed("/whatsapp/webhook", params)
    )
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "NumMedia", r.text
    assert (await row_counts(pool))["messages"] == 0


def _push(data: bytes) -> bytes:
    return json.dumps(
        {"message": {"data": base64.b64encode(data).decode(), "messageId": "1"}}
    ).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        _push(b'{"emailAddress": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"),
        _push(json.dumps({"emailAddress": ADDRESS, "historyId": "\u00b2"}).encode()),
        _push(json.dumps({"emailAddress": ADDRESS, "historyId": "1" * 5000}).encode()),
    ],
    ids=["nested-envelope", "nested-data", "digit-history-id", "5000-digit-history-id"],
)
async def test_gmail_pushes_nested_or_odd_are_4xx(
    gmail: tuple[httpx.AsyncClient, FakeGmail], pool: asyncpg.Pool, body: bytes
) -> None:
    client, _ = gmail
    r = await client.post(WEBHOOK, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert (await row_counts(pool))["messages"] == 0


@pytest.mark.parametrize("missing", ["historyId", "expiration"])
async def test_a_gmail_watch_answer_without_its_fields_is_a_503(
    gmail: tuple[httpx.AsyncClient, FakeGmail], pool: asyncpg.Pool, missing: str
) -> None:
    client, fake = gmail
    fake.watch_omit = (missing,)
    async with pool.acquire() as conn:
        key = (await auth.create_api_key(conn, "ops", "admin")).key
    r = await client.post("/gmail/setup-watch", headers={"X-API-Key": key})
    assert r.status_code == 503 and missing in r.json()["error"], r.text
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT watch_expires_at FROM gmail_mailboxes") is None


async def test_a_dead_letter_id_beyond_int64_is_a_4xx_on_the_api_and_the_cli(
    both: httpx.AsyncClient, pool: asyncpg.Pool, db_url: str
) -> None:
    async with pool.acquire() as conn:
        key = (await auth.create_api_key(conn, "ops", "admin")).key
    huge = "99999999999999999999"
    r = await both.post(f"/api/admin/dead-letters/{huge}/replay", headers={"X-API-Key": key})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "dead_letter_id", r.text
    done = await fte(db_url, "dlq", "replay", huge)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "DEAD_LETTER_ID" in done.stderr or "dead_letter_id" in done.stderr.lower()
