"""Chatwoot: replies posted into the Chatwoot conversation through its application API
(`POST /api/v1/accounts/{account}/conversations/{id}/messages`, `api_access_token` header);
drafts in approval mode go in as private notes, seen by agents only."""

from __future__ import annotations

import httpx

from fte.agent.formatting import greeting
from fte.channels.base import (
    ChannelAuthError,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
    Reply,
)
from fte.config import Settings


class ChatwootAdapter:
    """Plain paragraphs, as an agent would type them in the Chatwoot inbox."""

    name = "chatwoot"
    private_notes = True
    sent_when_stored = False
    max_chars: int | None = None

    def __init__(self, settings: Settings):
        self.settings = settings

    def is_configured(self) -> bool:
        """Active when the base URL, API token, account and webhook secret are set."""
        s = self.settings
        return bool(
            s.chatwoot_base_url
            and s.chatwoot_api_token
            and s.chatwoot_account_id
            and s.chatwoot_webhook_secret
        )

    def format_reply(self, reply: Reply) -> list[str]:
        """One message: greeting, the answer, the article it comes from."""
        parts = [greeting(reply.customer_name), reply.body]
        if reply.citations:
            parts.append("Source: " + "; ".join(c.title for c in reply.citations))
        return ["\n\n".join(parts)]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """One Chatwoot message (or private note) in the customer's conversation."""
        if not message.thread_key:
            raise DeliveryRejected("no Chatwoot conversation to reply in")
        s = self.settings
        assert s.chatwoot_base_url is not None and s.chatwoot_api_token is not None
        url = (
            f"{s.chatwoot_base_url.rstrip('/')}/api/v1/accounts/{s.chatwoot_account_id}"
            f"/conversations/{message.thread_key}/messages"
        )
        body = {
            "content": message.body,
            "message_type": "outgoing",
            "private": message.private,
            "content_type": "text",
        }
        try:
            async with httpx.AsyncClient(timeout=s.delivery_timeout_seconds) as client:
                r = await client.post(
                    url, json=body, headers={"api_access_token": s.chatwoot_api_token}
                )
        except httpx.TransportError as exc:
            raise ChannelUnavailable(f"Chatwoot unreachable: {exc!r}") from exc
        if r.status_code in (401, 403):
            raise ChannelAuthError(f"Chatwoot {r.status_code}: {r.text[:300]}")
        if r.status_code == 429 or r.status_code >= 500:
            raise ChannelUnavailable(f"Chatwoot {r.status_code}: {r.text[:300]}")
        if r.status_code >= 400:
            raise DeliveryRejected(f"Chatwoot {r.status_code}: {r.text[:300]}")
        try:
            sent_id = r.json()["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelUnavailable(
                f"Chatwoot answered {r.status_code} without a message id"
            ) from exc
        return DeliveryReceipt(external_id=f"out:{sent_id}", status="sent")
