"""Chatwoot: replies posted into the Chatwoot conversation through its application API
(`POST /api/v1/accounts/{account}/conversations/{id}/messages`, `api_access_token` header);
drafts in approval mode go in as private notes, seen by agents only."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg
import httpx
from fastapi import APIRouter

from fte.agent.formatting import greeting
from fte.messaging import (
    AdapterBase,
    ChannelAuthError,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
    Reply,
    Verdict,
)

CHECK_TIMEOUT_SECONDS = 5.0


class ChatwootAdapter(AdapterBase):
    """Plain paragraphs, as an agent would type them in the Chatwoot inbox."""

    name = "chatwoot"
    private_notes = True
    required_settings: Mapping[str, str] = {
        "chatwoot_base_url": "CHATWOOT_BASE_URL",
        "chatwoot_api_token": "CHATWOOT_API_TOKEN",
        "chatwoot_account_id": "CHATWOOT_ACCOUNT_ID",
        "chatwoot_webhook_secret": "CHATWOOT_WEBHOOK_SECRET",
    }

    def router(self) -> APIRouter:
        """The webhook: customers' messages, approvals, conversation status changes."""
        from fte.channels.chatwoot.webhook import router

        return router

    async def check(self, pool: asyncpg.Pool | None) -> Verdict:
        """The API token accepted (GET /api/v1/profile)."""
        s = self.settings
        assert s.chatwoot_base_url is not None and s.chatwoot_api_token is not None
        url = s.chatwoot_base_url.rstrip("/") + "/api/v1/profile"
        try:
            async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
                r = await client.get(url, headers={"api_access_token": s.chatwoot_api_token})
        except httpx.HTTPError as exc:
            return Verdict(
                "FAIL",
                f"{s.chatwoot_base_url} unreachable ({type(exc).__name__})",
                "check CHATWOOT_BASE_URL and the network; Chatwoot's status",
            )
        if r.status_code in (401, 403):
            return Verdict(
                "FAIL",
                f"Chatwoot refused the API token ({r.status_code})",
                "set CHATWOOT_API_TOKEN to an agent's or bot's current access token",
            )
        if r.status_code != 200:
            return Verdict(
                "WARN", f"Chatwoot answered {r.status_code}", "Chatwoot's status; it may recover"
            )
        return Verdict("PASS", "API token accepted")

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
