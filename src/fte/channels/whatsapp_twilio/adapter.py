"""WhatsApp through Twilio: replies formatted for WhatsApp, sent through Twilio's REST API with
the official `twilio` client (its base URL is TWILIO_API_BASE, for proxies and test servers)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
import asyncpg
import httpx
from fastapi import APIRouter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from fte.agent.formatting import first_name, split_text
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

PREFIX = "whatsapp:"
STATUS_PATH = "/whatsapp/status"
WEBHOOK_PATH = "/whatsapp/webhook"
WHATSAPP_LIMIT = 1600  # Twilio's maximum body for one WhatsApp message
CHECK_TIMEOUT_SECONDS = 5.0


def whatsapp_reply(body: str, customer_name: str | None, sources: list[str]) -> list[str]:
    """Short plain text: a one-line greeting, the answer, the source; split at 1,600 chars."""
    name = first_name(customer_name)
    text = (f"Hi {name}! " if name else "Hi! ") + body
    if sources:
        text += "\n\n(From our help article: " + "; ".join(sources) + ")"
    return split_text(text, WHATSAPP_LIMIT)


def whatsapp_address(number: str) -> str:
    """`whatsapp:+E164`, whether or not the prefix is there already."""
    return number if number.startswith(PREFIX) else PREFIX + number


class WhatsAppAdapter(AdapterBase):
    """Short, plain text, split at Twilio's 1,600-character limit, in order."""

    name = "whatsapp"
    max_chars: int | None = WHATSAPP_LIMIT
    required_settings: Mapping[str, str] = {
        "twilio_account_sid": "TWILIO_ACCOUNT_SID",
        "twilio_auth_token": "TWILIO_AUTH_TOKEN",
        "twilio_whatsapp_from": "TWILIO_WHATSAPP_FROM",
    }

    def router(self) -> APIRouter:
        """Inbound messages and delivery status callbacks."""
        from fte.channels.whatsapp_twilio.webhook import router

        return router

    async def check(self, pool: asyncpg.Pool | None) -> Verdict:
        """Our webhook reachable at FTE_PUBLIC_URL: an unsigned POST must get 403 (the route is
        there and checks signatures)."""
        if not self.settings.public_url:
            return Verdict(
                "WARN",
                "FTE_PUBLIC_URL unset: Twilio cannot reach the webhook from outside",
                "set FTE_PUBLIC_URL to the URL Twilio calls (see runbook: WhatsApp webhook)",
            )
        url = self.settings.base_url + WEBHOOK_PATH
        unreachable = (
            "FTE_PUBLIC_URL must reach this API (see runbook: WhatsApp webhook unreachable)"
        )
        try:
            async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS) as client:
                # An empty form without a signature: 403 from our route, nothing filed.
                r = await client.post(
                    url, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}
                )
        except httpx.HTTPError as exc:
            return Verdict(
                "FAIL",
                f"{url} unreachable ({type(exc).__name__})",
                "the proxy, DNS or TLS in front of the API (see runbook: WhatsApp webhook "
                "unreachable)",
            )
        if r.status_code == 403:
            return Verdict("PASS", f"credentials set; {url} answers (403 without a signature)")
        if r.status_code == 404:
            return Verdict(
                "FAIL",
                f"{url} answered 404",
                "the API there lacks the TWILIO_* settings, or FTE_PUBLIC_URL has the wrong path",
            )
        return Verdict("FAIL", f"{url} answered {r.status_code}, expected 403", unreachable)

    def format_reply(self, reply: Reply) -> list[str]:
        """One or more WhatsApp messages."""
        return whatsapp_reply(reply.body, reply.customer_name, [c.title for c in reply.citations])

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """One Twilio message; its SID comes back in status callbacks."""
        if not message.to:
            raise DeliveryRejected("no WhatsApp number to reply to")
        s = self.settings
        assert s.twilio_whatsapp_from is not None
        # The client's own session, closed here whatever happens: with pool_connections=False
        # the library opens one per request and leaks it when the request fails.
        async with AsyncTwilioHttpClient(pool_connections=True) as http:
            client = Client(s.twilio_account_sid, s.twilio_auth_token, http_client=http)
            client.api.base_url = s.twilio_api_base.rstrip("/")
            try:
                sent = await client.messages.create_async(
                    to=whatsapp_address(message.to),
                    from_=whatsapp_address(s.twilio_whatsapp_from),
                    body=message.body,
                    status_callback=s.base_url + STATUS_PATH,
                )
            except TwilioRestException as exc:
                raise _classify(exc) from exc
            except (aiohttp.ClientError, TwilioException, OSError) as exc:
                raise ChannelUnavailable(f"Twilio unreachable: {exc}") from exc
        return DeliveryReceipt(external_id=sent.sid, status="sent")


def _classify(exc: TwilioRestException) -> Exception:
    detail = f"Twilio {exc.status} (code {exc.code}): {exc.msg}"
    if exc.status in (401, 403):
        return ChannelAuthError(detail)
    if exc.status == 429 or exc.status >= 500:
        return ChannelUnavailable(detail)
    return DeliveryRejected(detail)
