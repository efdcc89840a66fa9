"""Decide what to do with one inbound message: answer, escalate with a reason, or draft.

The order of the checks is the policy:
1. the message's own wording (legal threat, asks for a person, demands a refund, negotiates);
2. the customer is very upset after an answer of ours → `negative_sentiment`;
   then what a person must read whatever the KB says (`agent/handover.py`): a security
   incident, data loss, leaving in anger, a complaint;
3. the best article is an escalation topic (e.g. "Get refund") at least FTE_ANSWER_THRESHOLD
   close → that topic's reason;
4. retrieval: nothing in the knowledge base is close enough to answer (`answerability`: the
   bar the knowledge base calibrated from its own answered questions; just under it, one
   article clearly ahead in known words still answers: `close_calls`), or the message is
   mostly about things the knowledge base never mentions → `low_confidence`;
5. the customer asks again what we already answered → `repeat_contact`;
6. otherwise answer (or, in approval mode, draft for a human), written by the configured
   responder, which may still hand over.
An escalation's draft for the human is written for its reason (`drafts`).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import asyncpg

from fte.agent import close_calls, drafts, escalation, handover
from fte.agent import repository as runs
from fte.agent.answerability import Calibration
from fte.agent.responders import local
from fte.agent.responders.base import Draft, Responder, ResponderInput
from fte.agent.retrieval import Source, retrieve
from fte.agent.schemas import Decision, MessageContext
from fte.agent.tools import AgentToolBox, customer_context
from fte.config import Settings
from fte.messaging import ChannelAdapter, Citation, Reply

if TYPE_CHECKING:
    from fte.agent.sentiment import SentimentResult
    from fte.embeddings import TextEmbedder


class Agent:
    """Policy around retrieval and a responder (local, or an LLM when configured)."""

    def __init__(
        self,
        settings: Settings,
        embedder: TextEmbedder,
        responder: Responder | None = None,
        pool: asyncpg.Pool | None = None,
    ):
        self.settings = settings
        self.embedder = embedder
        self.responder = responder
        # With a pool, the knowledge base's answer bar is refreshed beside the messages.
        self.calibration = Calibration(settings.answer_threshold, pool)

    async def decide(
        self,
        conn: asyncpg.Connection,
        ctx: MessageContext,
        sources: list[Source],
        adapter: ChannelAdapter,
        sentiment: SentimentResult | None = None,
        started: float | None = None,
        *,
        answered_before: bool,
    ) -> Decision:
        """Check the policy in order; the first reason that applies sends it to a human.
        `sources` is what `retrieve` found for the message, best first; `answered_before`,
        whether the customer was answered with the best one's article already (another
        message, within FTE_REPEAT_CONTACT_DAYS: `repository.answered_before`)."""
        started = time.perf_counter() if started is None else started
        s = self.settings
        # A close call between the two best articles is settled by their words first: the
        # answer, the draft and the stored sources all follow the settled order.
        sources = await self.calibration.settle(conn, ctx.query, sources)
        best = sources[0] if sources else None
        confident = await self.calibration.answers(
            conn, ctx.query, close_calls.confidence(sources), close_calls.runner_up(sources)
        )
        reason = escalation.message_reason(ctx.query)
        if (
            reason is None
            and sentiment is not None
            and sentiment.score <= s.negative_sentiment_threshold
            and await runs.ticket_answered_before(conn, ctx.ticket_id, ctx.message_id)
        ):
            # Most first messages to support are unhappy (a problem is why they write): anger
            # alone does not hand a ticket over, anger after our answer does.
            reason = escalation.NEGATIVE
        if reason is None:
            reason = handover.handover_reason(ctx.query, sentiment, s.negative_sentiment_threshold)
        if (
            reason is None
            and best is not None
            and best.escalation_reason
            and best.score >= s.answer_threshold
        ):
            # The calibrated bar guards what we *answer*; handing a message to the person its
            # topic calls for needs only the floor.
            reason = best.escalation_reason
        if reason is None and not confident:
            reason = escalation.LOW_CONFIDENCE
        if reason is None and best is not None and answered_before:
            reason = escalation.REPEAT

        local_draft = self._local_draft(ctx, best) if best is not None else None
        if reason is None and best is not None and local_draft is not None:
            draft = local_draft
            if self.responder is not None:
                customer = await customer_context(conn, ctx.customer_id, ctx.ticket_id)
                draft = await self.responder.respond(
                    self._responder_input(ctx, sources, customer),
                    AgentToolBox(conn, ctx, self.search),
                )
            if draft.decision == "answer" and draft.body:
                return self._answer(ctx, draft, sources, adapter, sentiment, started)
            reason = (
                draft.reason if draft.reason in escalation.REASONS else escalation.LOW_CONFIDENCE
            )
            return self._escalate(
                ctx, reason, sources, adapter, sentiment, started, local_draft, draft
            )
        reason = reason or escalation.LOW_CONFIDENCE
        written = drafts.write(reason, sources, ctx.body, ctx.customer_name, confident=confident)
        fitting = (
            Draft(decision="answer", body=written[0], citations=written[1], model=local.NAME)
            if written is not None
            else None
        )
        return self._escalate(ctx, reason, sources, adapter, sentiment, started, fitting, None)

    async def search(self, conn: asyncpg.Connection, query: str) -> list[Source]:
        """Retrieval for a query of the responder's own (its search tool)."""
        s = self.settings
        vectors = await asyncio.to_thread(self.embedder.embed, [query])
        (sources,) = await retrieve(conn, vectors, [query], s.retrieval_top_k, s.text_search_weight)
        return sources

    # ---- outcomes ---------------------------------------------------------------------------

    def _answer(
        self,
        ctx: MessageContext,
        draft: Draft,
        sources: list[Source],
        adapter: ChannelAdapter,
        sentiment: SentimentResult | None,
        started: float,
    ) -> Decision:
        citations = [Citation(str(c.article_id), c.title, c.score) for c in draft.citations]
        reply = Reply(
            body=draft.body or "",
            ticket_number=ctx.ticket_number,
            customer_name=ctx.customer_name,
            citations=tuple(citations),
        )
        parts = adapter.format_reply(reply)
        approval = self.settings.approval_mode
        return Decision(
            decision="draft" if approval else "answer",
            reason=None,
            confidence=sources[0].score if sources else 0.0,
            sources=sources,
            reply_parts=[] if approval else parts,
            draft="\n\n".join(parts) if approval else None,
            summary=None,
            latency_ms=_ms(started),
            model=draft.model,
            sentiment=sentiment,
            usage=draft.usage,
            fallback_reason=draft.fallback_reason,
            citations=citations,
        )

    def _escalate(
        self,
        ctx: MessageContext,
        reason: str,
        sources: list[Source],
        adapter: ChannelAdapter,
        sentiment: SentimentResult | None,
        started: float,
        local_draft: Draft | None,
        model_draft: Draft | None,
    ) -> Decision:
        note = Reply(
            body=handover.holding_note(reason),
            ticket_number=ctx.ticket_number,
            customer_name=ctx.customer_name,
        )
        draft_text = None
        if local_draft is not None and local_draft.body:
            citations = tuple(
                Citation(str(c.article_id), c.title, c.score) for c in local_draft.citations
            )
            draft_text = "\n\n".join(
                adapter.format_reply(
                    Reply(
                        body=local_draft.body,
                        ticket_number=ctx.ticket_number,
                        customer_name=ctx.customer_name,
                        citations=citations,
                    )
                )
            )
        summary = (
            model_draft.summary
            if model_draft and model_draft.summary
            else _summary(ctx, reason, sources, sentiment)
        )
        return Decision(
            decision="escalate",
            reason=reason,
            confidence=sources[0].score if sources else 0.0,
            sources=sources,
            reply_parts=adapter.format_reply(note),
            draft=draft_text,
            summary=summary,
            latency_ms=_ms(started),
            model=model_draft.model if model_draft else local.NAME,
            sentiment=sentiment,
            usage=model_draft.usage if model_draft else None,
            fallback_reason=model_draft.fallback_reason if model_draft else None,
        )

    def _local_draft(self, ctx: MessageContext, best: Source) -> Draft:
        body = local.answer_body(best, ctx.body, ctx.customer_name)
        return Draft(decision="answer", body=body, citations=[best], model=local.NAME)

    def _responder_input(
        self, ctx: MessageContext, sources: list[Source], customer: dict[str, Any] | None = None
    ) -> ResponderInput:
        return ResponderInput(
            message=ctx.body,
            subject=ctx.subject,
            customer_name=ctx.customer_name,
            channel=ctx.channel,
            ticket_number=ctx.ticket_number,
            sources=sources,
            threshold=self.calibration.current,
            customer=customer,
        )


def _summary(
    ctx: MessageContext, reason: str, sources: list[Source], sentiment: SentimentResult | None
) -> str:
    """A few lines a human can read before opening the conversation."""
    asked = " ".join(ctx.body.split())
    asked = asked if len(asked) <= 240 else asked[:237] + "…"
    lines = [
        f'{ctx.customer_name or "The customer"} wrote on {ctx.channel}: "{asked}"',
        f"Escalated: {reason.replace('_', ' ')}.",
    ]
    if sources:
        lines.append(f"Closest article: {sources[0].title} (confidence {sources[0].score:.2f}).")
    if sentiment is not None:
        lines.append(f"Sentiment: {sentiment.label} ({sentiment.score:+.2f}).")
    return "\n".join(lines)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
