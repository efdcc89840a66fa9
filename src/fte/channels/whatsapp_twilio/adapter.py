"""WhatsApp through Twilio. Today: how replies look on WhatsApp. The webhook, the signature
check and sending through Twilio's REST API arrive with the channel's own issue; until then the
channel reports `inactive` and takes no traffic."""

from __future__ import annotations

from fte.agent.formatting import whatsapp_reply
from fte.channels.base import Reply
from fte.config import Settings


class WhatsAppAdapter:
    """Short, plain text, split at Twilio's 1,600-character limit, in order."""

    name = "whatsapp"

    def __init__(self, settings: Settings):
        self.settings = settings

    def is_configured(self) -> bool:
        """Not configurable yet: no inbound webhook or sender exists (see the module doc)."""
        return False

    def format_reply(self, reply: Reply) -> list[str]:
        """One or more WhatsApp messages."""
        return whatsapp_reply(reply.body, reply.customer_name, [c.title for c in reply.citations])
