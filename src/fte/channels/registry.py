"""The channels this deployment knows, by name. Adding a channel is adding a line here: the app
mounts its routes, the worker runs its jobs, `fte doctor` checks it, through its adapter."""

from __future__ import annotations

from fte.channels.chatwoot.adapter import ChatwootAdapter
from fte.channels.gmail.adapter import GmailAdapter
from fte.channels.imap_smtp.adapter import EmailAdapter
from fte.channels.web_form.adapter import WebFormAdapter
from fte.channels.whatsapp_twilio.adapter import WhatsAppAdapter
from fte.config import Settings
from fte.messaging import AdapterBase, ChannelAdapter

CHANNELS: list[type[AdapterBase]] = [
    WebFormAdapter,
    EmailAdapter,
    WhatsAppAdapter,
    ChatwootAdapter,
    GmailAdapter,
]
# The channel every install has, needing no credentials: `fte eval` files a data set's messages
# through it when a row names no channel, or one that is not set up here.
REPLAY_CHANNEL: str = WebFormAdapter.name


def build_registry(settings: Settings) -> dict[str, ChannelAdapter]:
    """Every channel adapter, configured from the settings."""
    adapters: list[ChannelAdapter] = [kind(settings) for kind in CHANNELS]
    return {adapter.name: adapter for adapter in adapters}
