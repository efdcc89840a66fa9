"""What a responder gets and gives back. The runner decides policy; a responder writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from fte.agent.retrieval import Source


@dataclass(frozen=True)
class HistoryItem:
    """An earlier message of this customer, oldest first."""

    direction: Literal["inbound", "outbound"]
    author: str
    body: str
    ticket_number: int
    created_at: str  # ISO 8601


@dataclass(frozen=True)
class ResponderInput:
    """One inbound message with what the agent found about it."""

    message: str
    subject: str | None
    customer_name: str | None
    channel: str
    ticket_number: int
    # Retrieved articles, best first, with calibrated confidence scores (0..1).
    sources: list[Source]
    # The confidence threshold the runner answers above.
    threshold: float
    # What we know of the customer (agent.tools.customer_context): value, orders, churn risk,
    # open and recent tickets; None for a customer we know nothing of.
    customer: dict[str, Any] | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of the model calls made for one message."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Draft:
    """A responder's outcome: an answer grounded in `citations`, or a hand-off to a human."""

    decision: Literal["answer", "escalate"]
    body: str | None  # plain-text paragraphs, channel-neutral; None when escalating
    citations: list[Source]
    model: str
    reason: str | None = None  # escalation reason when decision == "escalate"
    summary: str | None = None  # for the human who takes an escalated ticket
    usage: Usage | None = None
    # Set when a configured model could not be used and the local responder stood in.
    fallback_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ToolBox(Protocol):
    """The tools a model may call, bound to the message being handled."""

    async def search_knowledge_base(self, query: str) -> list[Source]:
        """Articles for a query, best first."""
        ...

    async def get_customer_history(self) -> list[HistoryItem]:
        """This customer's earlier messages, oldest first."""
        ...


class Responder(Protocol):
    """Writes the reply for a message the runner decided to answer."""

    name: str

    async def respond(self, request: ResponderInput, tools: ToolBox) -> Draft:
        """An answer citing the sources it uses, or an escalation with a reason and summary."""
        ...
