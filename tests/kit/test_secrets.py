"""Non-ASCII in a token, signature or CSRF value is a refusal (403/404/401), never a 500.

Every check of a secret a client sends, over real HTTP against the running app: the ticket
status token, the sign-in and console CSRF values, the Chatwoot and Twilio signatures, the
Gmail push token and the API key.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from fte.auth import service
from fte.kit.secrets import equal
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, csrf_of, sign_in
from tests.fixtures.db import row_counts

# Bytes as a client may put them on the wire: UTF-8 "é", a lone latin-1 0xE9, and a mix.
NON_ASCII = [b"\xc3\xa9", b"\xe9", b"sha256=\xe9" + b"0" * 56]


class _Errors(logging.Handler):
    """Every ERROR record, or record with a traceback, that the server logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@contextmanager
def server_errors() -> Iterator[_Errors]:
    # uvicorn logs an unhandled exception on "uvicorn.error", which does not reach the root.
    handler = _Errors()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.fixture
async def app(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with Chatwoot, Twilio and Gmail configured, and an admin who can sign in."""
    credentials = tmp_path / "gmail.json"
    credentials.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "r",
            }
        )
    )
    settings = make_settings(
        CHATWOOT_BASE_URL="http://127.0.0.1:9",
        CHATWOOT_API_TOKEN="chatwoot-api-token",
        CHATWOOT_ACCOUNT_ID="3",
        CHATWOOT_WEBHOOK_SECRET="chatwoot-webhook-secret",
        TWILIO_ACCOUNT_SID="AC" + "a" * 32,
        TWILIO_AUTH_TOKEN="twilio-auth-token",
        TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
        TWILIO_API_BASE="http://127.0.0.1:9",
        GMAIL_CREDENTIALS_FILE=str(credentials),
        GMAIL_PUBSUB_TOPIC="projects/acme/topics/gmail",
        GMAIL_ADDRESS="support@acme.example",
        GMAIL_PUSH_TOKEN="pubsub-push-secret",
        GMAIL_API_BASE="http://127.0.0.1:9",
    )
    async with pool.acquire() as conn:
        await service.add_user(conn, "admin@example.com", "Ann", "admin", PASSWORD)
    async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
        yield c


def test_equal_compares_any_text_without_raising() -> None:
    assert equal("abc", "abc") and equal(b"abc", "abc")
    assert not equal("é", "abc") and not equal("é", "é\u0301")
    assert not equal(None, "abc") and not equal("", "")
    assert not equal("\udce9", "abc")  # a lone surrogate, as os.fsdecode makes them


@pytest.mark.parametrize("raw", NON_ASCII)
async def test_a_non_ascii_status_token_is_404(app: httpx.AsyncClient, raw: bytes) -> None:
    with server_errors() as errors:
        r = await app.get(
            f"/support/tickets/{uuid.uuid4()}", params={"token": raw.decode("latin-1")}
        )
        r2 = await app.get(f"/support/tickets/{uuid.uuid4()}?token=%C3%A9")
    assert (r.status_code, r2.status_code) == (404, 404)
    assert errors.records == []


@pytest.mark.parametrize("raw", NON_ASCII)
async def test_non_ascii_csrf_values_are_403_pages(app: httpx.AsyncClient, raw: bytes) -> None:
    text = raw.decode("latin-1")
    with server_errors() as errors:
        page = await app.get("/console/login")
        csrf_of(page)  # the form carries a token; the attacker sends another one
        login = await app.post(
            "/console/login",
            data={"email": "admin@example.com", "password": PASSWORD, "csrf": text},
        )
        assert login.status_code == 403 and "The form expired" in login.text
        assert "fte_session" not in app.cookies

        assert (await sign_in(app, "admin@example.com")).status_code == 303
        header = await app.post("/api/admin/dead-letters/1/replay", headers={"X-CSRF-Token": raw})
        form = await app.post("/console/logout", data={"csrf": text})
    assert header.status_code == 403 and "X-CSRF-Token" in header.json()["error"]
    assert form.status_code == 403 and "CSRF" in form.text
    assert "fte_session" in app.cookies  # the forged sign-out did not end the session
    assert errors.records == []


@pytest.mark.parametrize("raw", NON_ASCII)
async def test_non_ascii_webhook_signatures_are_403_and_write_nothing(
    app: httpx.AsyncClient, pool: asyncpg.Pool, raw: bytes
) -> None:
    before = await row_counts(pool)
    body = json.dumps({"event": "message_created", "id": 1}).encode()
    with server_errors() as errors:
        chatwoot = await app.post(
            "/chatwoot/webhook",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Chatwoot-Signature": raw,
                "X-Chatwoot-Timestamp": str(int(time.time())),
            },
        )
        twilio = await app.post(
            "/whatsapp/webhook",
            content="Body=hi&From=whatsapp%3A%2B447700900123&MessageSid=SM1",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": raw,
            },
        )
        gmail = await app.post(
            "/gmail/webhook",
            params={"token": raw.decode("latin-1")},
            content=b"{}",
            headers={"Content-Type": "application/json"},
        )
        gmail_utf8 = await app.post("/gmail/webhook?token=%C3%A9", content=b"{}")
    assert chatwoot.status_code == 403, chatwoot.text
    assert twilio.status_code == 403, twilio.text
    assert (gmail.status_code, gmail_utf8.status_code) == (403, 403), gmail.text
    assert await row_counts(pool) == before
    assert errors.records == []


@pytest.mark.parametrize("raw", [*NON_ASCII, b"fte_\xe9"])
async def test_a_non_ascii_api_key_is_401(app: httpx.AsyncClient, raw: bytes) -> None:
    with server_errors() as errors:
        r = await app.get("/api/admin/dead-letters", headers={"X-API-Key": raw})
    assert r.status_code == 401, r.text
    assert errors.records == []
