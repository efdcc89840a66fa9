"""Decide what to do with one inbound message: answer from the knowledge base, or escalate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import asyncpg

from fte.agent import escalation
from fte.agent.responders import local
from fte.agent.retrieval import Source, retrieve
from fte.channels.base import ChannelAdapter, Citation, Reply

DecisionKind = Literal["answer", "escalate", "draft"]


@dataclass(frozen=True)
class MessageContext:
    """An inbound message with what the agent needs about its ticket and customer."""

    message_id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_number: int
    conversation_id: uuid.UUID
    channel: str
    body: str
    subject: str | None
    customer_name: str | None

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
            channel=row["channel"],
            body=row["body"],
            subject=row["subject"],
            customer_name=row["customer_name"],
        )


@dataclass(frozen=True)
class Decision:
    """The agent's outcome for one message, with everything a human needs to check it."""

    decision: DecisionKind
    reason: str | None
    confidence: float
    sources: list[Source]
    # What the customer is sent: the answer, or a note that a human will follow up.
    reply_parts: list[str]
    # For the human who takes an escalated ticket: the answer the agent would have given.
    draft: str | None
    latency_ms: float
    model: str = local.NAME
    citations: list[Citation] = field(default_factory=list)


class Agent:
    """The v1 agent: escalation rules, then retrieval with a similarity threshold."""

    def __init__(self, *, threshold: float, top_k: int):
        self.threshold = threshold
        self.top_k = top_k

    async def decide(
        self,
        conn: asyncpg.Connection,
        ctx: MessageContext,
        query_vector: Sequence[float],
        adapter: ChannelAdapter,
        started: float | None = None,
    ) -> Decision:
        """Answer with the best article when it clears the threshold, else escalate."""
        started = time.perf_counter() if started is None else started
        sources = await retrieve(conn, query_vector, self.top_k)
        best = sources[0] if sources else None
        confidence = best.score if best else 0.0
        reason = escalation.rule_reason(ctx.query)
        if reason is None and (best is None or best.score < self.threshold):
            reason = "low_confidence"

        citations = [Citation(str(best.article_id), best.title, best.score)] if best else []
        answer = (
            Reply(
                body=local.answer_body(best),
                ticket_number=ctx.ticket_number,
                customer_name=ctx.customer_name,
                citations=tuple(citations),
            )
            if best
            else None
        )
        if reason is None and answer is not None:
            return Decision(
                decision="answer",
                reason=None,
                confidence=confidence,
                sources=sources,
                reply_parts=adapter.format_reply(answer),
                draft=None,
                latency_ms=(time.perf_counter() - started) * 1000,
                citations=citations,
            )
        note = Reply(
            body=local.ESCALATION_NOTE,
            ticket_number=ctx.ticket_number,
            customer_name=ctx.customer_name,
        )
        return Decision(
            decision="escalate",
            reason=reason,
            confidence=confidence,
            sources=sources,
            reply_parts=adapter.format_reply(note),
            draft="\n\n".join(adapter.format_reply(answer)) if answer else None,
            latency_ms=(time.perf_counter() - started) * 1000,
            citations=citations,
        )
