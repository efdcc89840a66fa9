"""The web form: customers submit on our page and read replies on their ticket's status page."""

from __future__ import annotations

from fte.agent.formatting import greeting
from fte.channels.base import DeliveryReceipt, OutboundMessage, Reply
from fte.config import Settings


class WebFormAdapter:
    """Always configured: the web form is served by the API itself."""

    name = "web_form"
    private_notes = False
    sent_when_stored = True
    max_chars: int | None = None

    def __init__(self, settings: Settings):
        self.settings = settings

    def is_configured(self) -> bool:
        """The form needs no provider settings."""
        return True

    def format_reply(self, reply: Reply) -> list[str]:
        """Plain paragraphs: greeting, the answer, the article it comes from."""
        parts = [greeting(reply.customer_name), reply.body]
        if reply.citations:
            parts.append("Source: " + "; ".join(c.title for c in reply.citations))
        return ["\n\n".join(parts)]

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Nothing to send: the customer reads the reply on their ticket's status page (replies
        are stored as sent; a delivery job queued before they were is completed here)."""
        return DeliveryReceipt(status="sent")
