"""Gmail: replies sent with users.messages.send on the customer's Gmail thread (threadId), with
In-Reply-To and References of the message answered, so every mail client threads them too."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

import asyncpg
from fastapi import APIRouter

from fte.channels.gmail.client import GmailClient
from fte.channels.gmail.watch import WatchRenewer, watch_status
from fte.channels.imap_smtp.adapter import build_reply, email_parts, sign_email
from fte.channels.imap_smtp.schemas import message_ids
from fte.config import Settings
from fte.messaging import (
    AdapterBase,
    BackgroundTask,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
    Reply,
    Verdict,
)

# The headers of the message answered that a threaded reply needs.
THREAD_HEADERS = ["Message-ID", "References", "Subject"]


RENEW_FIX = "POST /gmail/setup-watch with an admin API key (runbook: Gmail watch expired)"


class GmailAdapter(AdapterBase):
    """Greeting, answer, sign-off and the ticket reference, as an email."""

    name = "gmail"
    required_settings: Mapping[str, str] = {
        "gmail_credentials_file": "GMAIL_CREDENTIALS_FILE",
        "gmail_pubsub_topic": "GMAIL_PUBSUB_TOPIC",
        "gmail_address": "GMAIL_ADDRESS",
    }
    # The watch's expiry is one query: /health shows a watch about to lapse.
    check_cheap = True
    check_needs_database = True

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self._client: GmailClient | None = None

    @property
    def client(self) -> GmailClient:
        """The Gmail API client, made on first use."""
        if self._client is None:
            self._client = GmailClient(self.settings)
        return self._client

    def unset_settings(self) -> list[str]:
        """The credentials, the topic, the mailbox, and one way to verify pushes."""
        unset = super().unset_settings()
        if not (self.settings.gmail_push_token or self.settings.gmail_push_audience):
            unset.append("GMAIL_PUSH_TOKEN or GMAIL_PUSH_AUDIENCE")
        return unset

    def router(self) -> APIRouter:
        """Pub/Sub push in, and the admin's watch set-up."""
        from fte.channels.gmail.webhook import router

        return router

    def background_tasks(self, pool: asyncpg.Pool) -> dict[str, BackgroundTask]:
        """The watch renewal (and the catch-up read after it)."""
        return {"gmail-watch": WatchRenewer(pool, self.settings).run}

    async def check(self, pool: asyncpg.Pool | None) -> Verdict:
        """The Gmail push watch: set up, and more than a day from expiry (workers renew it)."""
        assert pool is not None and self.settings.gmail_address is not None
        async with pool.acquire() as conn:
            status = await watch_status(conn, self.settings.gmail_address.lower())
        if status is None:
            return Verdict("FAIL", "no Gmail watch: no mail is pushed", RENEW_FIX)
        data = {"expires_at": status.expires_at.isoformat(), "seconds_left": status.seconds_left}
        until = f"{status.expires_at:%Y-%m-%d %H:%M} UTC"
        if status.seconds_left <= 0:
            return Verdict("FAIL", f"the Gmail watch expired at {until}", RENEW_FIX, data)
        if status.needs_renewal:
            return Verdict(
                "WARN",
                f"the Gmail watch expires at {until}",
                "a running worker renews it within FTE_GMAIL_WATCH_CHECK_SECONDS; if not, "
                + RENEW_FIX,
                data,
            )
        return Verdict("PASS", f"watch until {until}", data=data)

    def format_reply(self, reply: Reply) -> list[str]:
        """One email body."""
        return email_parts(reply, self.settings.company_name)

    def sign(self, body: str, person: str) -> str:
        """Signed like the agent's replies, with the person's first name."""
        return sign_email(body, person, self.settings.company_name)

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """One email on the customer's Gmail thread; Gmail's message id is the receipt."""
        if not message.to:
            raise DeliveryRejected("no email address to reply to")
        assert self.settings.gmail_address is not None
        raw = await asyncio.to_thread(self._compose, message, self.settings.gmail_address)
        sent_id = await asyncio.to_thread(self.client.send, raw, message.thread_key)
        return DeliveryReceipt(external_id=sent_id, status="sent")

    def _compose(self, message: OutboundMessage, sender: str) -> bytes:
        # `in_reply_to` is Gmail's id of the message answered: its RFC headers come from Gmail.
        original = (
            self.client.headers(message.in_reply_to, THREAD_HEADERS)
            if message.in_reply_to
            else None
        )
        original = original or {}
        own = message_ids(original.get("message-id"))
        references = [*message_ids(original.get("references")), *own]
        mail = build_reply(
            dataclasses.replace(
                message,
                subject=message.subject or original.get("subject"),
                in_reply_to=own[0] if own else None,
                references=tuple(references),
                thread_key=None,
            ),
            sender,
        )
        return mail.as_bytes()
