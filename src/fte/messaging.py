"""What every channel adapter speaks: one inbound shape, one reply shape, one Protocol."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import asyncpg
from fastapi import APIRouter, Request

from fte.config import Settings
from fte.errors import NotFound

# How a channel proves who wrote: the address it delivered from (email, WhatsApp), the contact
# id a signed webhook names (Chatwoot). `web_form` is one submission's own identity: the form's
# email field is typed by whoever fills it in, so it is a claim (`InboundMessage.claimed`).
IdentityKind = Literal["email", "phone", "chatwoot_contact", "web_form"]
Priority = Literal["low", "medium", "high", "urgent"]


@dataclass(frozen=True)
class Identity:
    """How a customer is known on a channel: an email address, a phone number, a contact id."""

    kind: IdentityKind
    value: str


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message, normalised by its adapter."""

    channel: str
    identity: Identity
    body: str
    # The provider's id for this message: a redelivery with the same id is a no-op.
    external_id: str | None = None
    customer_name: str | None = None
    subject: str | None = None
    # The provider's thread: messages with the same key join the same open conversation.
    # None starts a new conversation (a web-form submission is its own conversation).
    thread_key: str | None = None
    category: str | None = None
    priority: Priority = "medium"
    metadata: dict[str, Any] = field(default_factory=dict)
    # A human has the conversation (e.g. assigned in Chatwoot): file it, the agent stays silent.
    silent: bool = False
    # Addresses the sender stated that the channel did not prove (the web form's email field):
    # kept on the customer and offered to an operator when a proven customer owns one, never
    # used to find or link a customer.
    claimed: tuple[Identity, ...] = ()


@dataclass(frozen=True)
class Citation:
    """A knowledge-base article a reply is grounded in."""

    article_id: str
    title: str
    score: float


@dataclass(frozen=True)
class Reply:
    """A channel-neutral reply: plain-text paragraphs the adapter dresses for its channel."""

    body: str
    ticket_number: int
    customer_name: str | None = None
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    """One stored outbound message, addressed: what an adapter's `send` delivers."""

    message_id: str
    channel: str
    body: str
    # The customer's address on this channel, as its adapter recorded it on their latest
    # message (`metadata["reply_to"]`): a phone number, an email address, a contact id.
    to: str | None
    customer_name: str | None = None
    subject: str | None = None
    # The provider's thread the reply belongs to (a Chatwoot conversation, an email thread).
    thread_key: str | None = None
    # The provider's id of the inbound message answered, for threading (In-Reply-To).
    in_reply_to: str | None = None
    # Email: the answered message's References followed by its Message-ID, as its adapter
    # recorded them (`metadata["references"]`); a reply's References carry the whole thread.
    references: tuple[str, ...] = ()
    # True when the message is a draft a human must approve (posted as a private note where
    # the channel has them).
    private: bool = False


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the provider said: its id for the message (for status callbacks) and a status."""

    external_id: str | None = None
    status: str = "sent"


class ChannelAuthError(Exception):
    """The provider rejected our credentials: disable the channel and alert, do not retry."""


class ChannelUnavailable(Exception):
    """A transient provider failure: retry later."""


class DeliveryRejected(Exception):
    """The provider refused this one message (bad number, unknown thread): retrying will not
    help, and the provider itself is up."""


# A job a channel runs beside the worker (a mailbox poller, a watch renewal): it runs until the
# event is set.
BackgroundTask = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Verdict:
    """What a channel's own doctor check saw of its provider; `fte doctor` prints it."""

    status: Literal["PASS", "WARN", "FAIL"]
    summary: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class ChannelAdapter(Protocol):
    """One channel. New channels are new modules implementing this, listed in the registry.

    Everything the rest of the product needs of a channel is asked here (its HTTP routes, its
    jobs beside the worker, its doctor check, its settings, its reply format), so that adding
    a channel is one module and one line in `registry.py`. `AdapterBase` gives the optional
    hooks their "nothing" defaults."""

    name: str
    # True when the channel can show a draft to agents only (a private note): in approval mode
    # the agent's draft is delivered there instead of being kept for the console alone.
    private_notes: bool
    # True when storing a reply is delivering it (the web form: the customer reads it on the
    # ticket's status page): it is stored as sent, and no delivery job is queued for it.
    sent_when_stored: bool
    # The longest message the provider takes (None: no limit); longer text goes in parts.
    max_chars: int | None
    # The settings the channel needs, attribute of `Settings` -> environment variable: none
    # set, the channel is not used here; some set, it is incomplete (the doctor says which).
    required_settings: Mapping[str, str]
    # How `fte doctor` runs `check`: fast enough for /health, and whether it reads the database.
    check_cheap: bool
    check_needs_database: bool

    def is_configured(self) -> bool:
        """True when the channel's settings are present, so it can take and send messages."""
        ...

    def unset_settings(self) -> list[str]:
        """The environment variables still to set for the channel to work (none: complete)."""
        ...

    def format_reply(self, reply: Reply) -> list[str]:
        """The reply as this channel sends it: one or more message parts, in order."""
        ...

    def sign(self, body: str, person: str) -> str:
        """A person's words as this channel sends them: signed with their name where the
        channel's format signs replies."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message part. Raises ChannelUnavailable (retry), ChannelAuthError or
        DeliveryRejected (do not retry)."""
        ...

    def router(self) -> APIRouter | None:
        """The channel's HTTP routes (webhooks, pages), mounted by the app; None: none."""
        ...

    def background_tasks(self, pool: asyncpg.Pool) -> dict[str, BackgroundTask]:
        """The jobs the worker runs beside it while the channel is configured, by name."""
        ...

    async def check(self, pool: asyncpg.Pool | None) -> Verdict | None:
        """What can be asked of the provider without sending anything (the doctor's check,
        after the settings); None: nothing beyond the settings."""
        ...


class AdapterBase(abc.ABC):
    """The optional hooks' defaults: no routes, no jobs, no check beyond the settings."""

    name: str
    private_notes = False
    sent_when_stored = False
    max_chars: int | None = None
    required_settings: Mapping[str, str] = {}
    check_cheap = False
    check_needs_database = False

    def __init__(self, settings: Settings):
        self.settings = settings

    def unset_settings(self) -> list[str]:
        """The required settings not set, as environment variable names."""
        return [env for attr, env in self.required_settings.items() if not self._set(attr)]

    def is_configured(self) -> bool:
        """Active when every required setting is set."""
        return not self.unset_settings()

    @abc.abstractmethod
    def format_reply(self, reply: Reply) -> list[str]:
        """The reply as this channel sends it: one or more message parts, in order."""

    def sign(self, body: str, person: str) -> str:
        """As written: chat-like channels sign nothing."""
        return body

    @abc.abstractmethod
    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message part (see `ChannelAdapter.send`)."""

    def router(self) -> APIRouter | None:
        """No HTTP routes."""
        return None

    def background_tasks(self, pool: asyncpg.Pool) -> dict[str, BackgroundTask]:
        """No jobs beside the worker."""
        return {}

    async def check(self, pool: asyncpg.Pool | None) -> Verdict | None:
        """Nothing to ask the provider."""
        return None

    def _set(self, attr: str) -> bool:
        return bool(getattr(self.settings, attr))


def configured_adapter(request: Request, name: str) -> ChannelAdapter:
    """The app's adapter for channel `name`, for its webhooks: the one way they get it.
    A channel without its settings has no webhook here (404)."""
    adapter: ChannelAdapter | None = request.app.state.adapters.get(name)
    if adapter is None or not adapter.is_configured():
        raise NotFound(f"the {name} channel is not configured")
    return adapter
