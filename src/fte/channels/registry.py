"""The channels this deployment knows, by name. Adding a channel is adding a line here."""

from __future__ import annotations

from fte.channels.base import ChannelAdapter
from fte.channels.chatwoot.adapter import ChatwootAdapter
from fte.channels.gmail.adapter import GmailAdapter
from fte.channels.imap_smtp.adapter import EmailAdapter
from fte.channels.web_form.adapter import WebFormAdapter
from fte.channels.whatsapp_twilio.adapter import WhatsAppAdapter
from fte.config import Settings


def build_registry(settings: Settings) -> dict[str, ChannelAdapter]:
    """Every channel adapter, configured from the settings."""
    adapters: list[ChannelAdapter] = [
        WebFormAdapter(settings),
        EmailAdapter(settings),
        WhatsAppAdapter(settings),
        ChatwootAdapter(settings),
        GmailAdapter(settings),
    ]
    return {adapter.name: adapter for adapter in adapters}
