"""Email over IMAP/SMTP. Today: how replies look by email. Polling IMAP and sending over SMTP
arrive with the channel's own issue; until then the channel reports `inactive`."""

from __future__ import annotations

from fte.agent.formatting import email_reply
from fte.channels.base import ChannelAuthError, DeliveryReceipt, OutboundMessage, Reply
from fte.config import Settings


class EmailAdapter:
    """Greeting, answer, sign-off and the ticket reference."""

    name = "email"
    private_notes = False

    def __init__(self, settings: Settings):
        self.settings = settings

    def is_configured(self) -> bool:
        """Not configurable yet: no mailbox poller or sender exists (see the module doc)."""
        return False

    def format_reply(self, reply: Reply) -> list[str]:
        """One email body."""
        return [
            email_reply(
                reply.body,
                reply.customer_name,
                reply.ticket_number,
                self.settings.company_name,
                [c.title for c in reply.citations],
            )
        ]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """No sender exists yet; delivery never calls an unconfigured channel."""
        raise ChannelAuthError("the email channel is not configured")
