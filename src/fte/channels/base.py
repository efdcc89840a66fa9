"""What every channel adapter speaks: one inbound shape, one reply shape, one Protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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


class ChannelAdapter(Protocol):
    """One channel. New channels are new modules implementing this, listed in the registry."""

    name: str
    # True when the channel can show a draft to agents only (a private note): in approval mode
    # the agent's draft is delivered there instead of being kept for the console alone.
    private_notes: bool
    # True when storing a reply is delivering it (the web form: the customer reads it on the
    # ticket's status page): it is stored as sent, and no delivery job is queued for it.
    sent_when_stored: bool
    # The longest message the provider takes (None: no limit); longer text goes in parts.
    max_chars: int | None

    def is_configured(self) -> bool:
        """True when the channel's settings are present, so it can take and send messages."""
        ...

    def format_reply(self, reply: Reply) -> list[str]:
        """The reply as this channel sends it: one or more message parts, in order."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver one message part. Raises ChannelUnavailable (retry), ChannelAuthError or
        DeliveryRejected (do not retry)."""
        ...
