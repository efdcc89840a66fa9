"""The web form: customers submit on our page and read replies on their ticket's status page."""

from __future__ import annotations

from fastapi import APIRouter

from fte.agent.formatting import greeting
from fte.messaging import AdapterBase, DeliveryReceipt, OutboundMessage, Reply


class WebFormAdapter(AdapterBase):
    """Always configured: the web form is served by the API itself (no settings needed)."""

    name = "web_form"
    sent_when_stored = True

    def router(self) -> APIRouter:
        """The form's page, its static files, the submit endpoint and the status view."""
        from fte.channels.web_form.webhook import router

        return router

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
