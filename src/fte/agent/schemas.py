"""What the agent reads and what it decides: the message in its context, and the decision.

Their own module so that the tool box, the agent service and the workers can name them
without importing the runner that makes decisions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import asyncpg

from fte.agent.responders import local
from fte.agent.responders.base import Usage
from fte.agent.retrieval import Source
from fte.messaging import Citation

if TYPE_CHECKING:
    from fte.agent.sentiment import SentimentResult

DecisionKind = Literal["answer", "escalate", "draft"]


@dataclass(frozen=True)
class MessageContext:
    """An inbound message with what the agent needs about its ticket and customer."""

    message_id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_number: int
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    body: str
    subject: str | None
    customer_name: str | None
    # The ticket's earlier customer messages' sentiment labels, oldest first (the trend).
    earlier_sentiments: tuple[str, ...] = ()

    @property
    def query(self) -> str:
        """The text the agent reads: the subject adds context to short messages."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> MessageContext:
        """From tickets.repository.load_message_context."""
        return cls(
            message_id=row["message_id"],
            ticket_id=row["ticket_id"],
            ticket_number=row["ticket_number"],
            conversation_id=row["conversation_id"],
            customer_id=row["customer_id"],
            channel=row["channel"],
            body=row["body"],
            subject=row["subject"],
            customer_name=row["customer_name"],
            earlier_sentiments=tuple(row["earlier_sentiments"] or ()),
        )


@dataclass(frozen=True)
class Decision:
    """The agent's outcome for one message, with everything a human needs to check it."""

    decision: DecisionKind
    reason: str | None
    confidence: float
    sources: list[Source]
    # What the customer is sent now: the answer, or a note that a human will follow up.
    reply_parts: list[str]
    # For a human: the reply the agent would send (escalations, approval mode).
    draft: str | None
    summary: str | None
    latency_ms: float
    model: str = local.NAME
    sentiment: SentimentResult | None = None
    usage: Usage | None = None
    fallback_reason: str | None = None
    citations: list[Citation] = field(default_factory=list)
