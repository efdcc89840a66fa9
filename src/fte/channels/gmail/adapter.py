"""Gmail: replies sent with users.messages.send on the customer's Gmail thread (threadId), with
In-Reply-To and References of the message answered, so every mail client threads them too."""

from __future__ import annotations

import asyncio
import dataclasses

from fte.agent.formatting import email_parts
from fte.channels.base import DeliveryReceipt, DeliveryRejected, OutboundMessage, Reply
from fte.channels.gmail.client import GmailClient
from fte.channels.imap_smtp.adapter import build_reply
from fte.channels.imap_smtp.schemas import message_ids
from fte.config import Settings

# The headers of the message answered that a threaded reply needs.
THREAD_HEADERS = ["Message-ID", "References", "Subject"]


class GmailAdapter:
    """Greeting, answer, sign-off and the ticket reference, as an email."""

    name = "gmail"
    private_notes = False
    sent_when_stored = False
    max_chars: int | None = None

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: GmailClient | None = None

    @property
    def client(self) -> GmailClient:
        """The Gmail API client, made on first use."""
        if self._client is None:
            self._client = GmailClient(self.settings)
        return self._client

    def is_configured(self) -> bool:
        """Active when the credentials, the topic, the mailbox and a push check are set."""
        s = self.settings
        verified = bool(s.gmail_push_token or s.gmail_push_audience)
        return bool(
            s.gmail_credentials_file and s.gmail_pubsub_topic and s.gmail_address and verified
        )

    def format_reply(self, reply: Reply) -> list[str]:
        """One email body."""
        return email_parts(reply, self.settings.company_name)

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
