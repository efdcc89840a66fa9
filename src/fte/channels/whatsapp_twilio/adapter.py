"""WhatsApp through Twilio: replies formatted for WhatsApp, sent through Twilio's REST API with
the official `twilio` client (its base URL is TWILIO_API_BASE, for proxies and test servers)."""

from __future__ import annotations

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from fte.agent.formatting import WHATSAPP_LIMIT, whatsapp_reply
from fte.channels.base import (
    ChannelAuthError,
    ChannelUnavailable,
    DeliveryReceipt,
    DeliveryRejected,
    OutboundMessage,
    Reply,
)
from fte.config import Settings

PREFIX = "whatsapp:"
STATUS_PATH = "/whatsapp/status"


def whatsapp_address(number: str) -> str:
    """`whatsapp:+E164`, whether or not the prefix is there already."""
    return number if number.startswith(PREFIX) else PREFIX + number


class WhatsAppAdapter:
    """Short, plain text, split at Twilio's 1,600-character limit, in order."""

    name = "whatsapp"
    private_notes = False
    sent_when_stored = False
    max_chars: int | None = WHATSAPP_LIMIT

    def __init__(self, settings: Settings):
        self.settings = settings

    def is_configured(self) -> bool:
        """Active when the account, its auth token and the sender number are set."""
        s = self.settings
        return bool(s.twilio_account_sid and s.twilio_auth_token and s.twilio_whatsapp_from)

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
