"""Commit the agent's decision: the run, its replies and the ticket move in one statement; the
hand-over of a message the agent could not answer, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import numpy as np
import numpy.typing as npt

from fte.agent import repository as runs
from fte.agent.escalation import AI_UNAVAILABLE
from fte.agent.responders import local
from fte.agent.schemas import Decision, MessageContext
from fte.agent.sentiment import ticket_trend
from fte.bus import outbox, topics
from fte.delivery.service import queue_key, queue_outbound
from fte.kit.metrics import AGENT_DECISION, TICKETS_ESCALATED
from fte.messaging import ChannelAdapter, Reply
from fte.tickets import priorities
from fte.tickets import repository as tickets

_STATUS_AFTER = {"answer": "pending", "escalate": "escalated", "draft": "open"}


async def commit_decision(
    conn: asyncpg.Connection,
    ctx: MessageContext,
    decision: Decision,
    worker: str,
    job_id: int,
    adapter: ChannelAdapter,
    *,
    query_embedding: Sequence[float] | npt.NDArray[np.float32] | None = None,
) -> bool:
    """Record the decision once and complete its inbound job, in one statement (atomic without
    a transaction): the run, the message's sentiment, the replies (queued for delivery, or
    stored as sent where that is delivering them), the ticket moved. False when the message
    had been handled already: no reply is stored."""
    run_id = uuid.uuid4()
    linked = {"agent_run_id": str(run_id)}
    queued = not adapter.sent_when_stored
    replies = [
        _reply(body, {**linked, "decision": decision.decision}, queued)
        for body in decision.reply_parts
    ]
    if adapter.private_notes and decision.decision == "draft" and decision.draft:
        # Agents see the draft where they work (a private note); the customer does not.
        note = {**linked, "decision": "draft", "private": True}
        replies.append(_reply(decision.draft, note, queued))
    usage = decision.usage
    label = decision.sentiment.label if decision.sentiment else None
    # The rules again, now with the message's sentiment ("high churn risk and negative").
    raised = await priorities.outcome(conn, ctx.customer_id, channel=ctx.channel, sentiment=label)
    return await runs.record_decision(
        conn,
        job_id=job_id,
        run={
            "id": run_id,
            "message_id": ctx.message_id,
            "ticket_id": ctx.ticket_id,
            "decision": decision.decision,
            "reason": decision.reason,
            "confidence": decision.confidence,
            "sources": [s.as_json() for s in decision.sources],
            "draft": decision.draft,
            "summary": decision.summary,
            "sentiment": label,
            "latency_ms": decision.latency_ms,
            "model": decision.model,
            "worker": worker,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "cost_usd": usage.cost_usd if usage else None,
            "fallback_reason": decision.fallback_reason,
            # Kept for escalations only: the dashboard's knowledge gaps group them by meaning.
            "query_embedding": query_embedding if decision.decision == "escalate" else None,
            # The first part the customer is sent (not the private draft note).
            "reply_message_id": replies[0].id if decision.reply_parts else None,
        },
        conversation_id=ctx.conversation_id,
        channel=ctx.channel,
        replies=replies,
        delivery=(topics.DELIVER, queue_key(ctx.conversation_id)),
        ticket=runs.TicketMove(
            status=_STATUS_AFTER[decision.decision],
            escalation_reason=decision.reason if decision.decision == "escalate" else None,
            responded=decision.decision == "answer",
            sentiment_score=decision.sentiment.score if decision.sentiment else None,
            sentiment_trend=ticket_trend([*ctx.earlier_sentiments, label]) if label else None,
            priority=raised.priority if raised else None,
            priority_reason=raised.reason if raised else None,
        ),
    )


def _reply(body: str, metadata: dict[str, object], queued: bool) -> runs.StoredReply:
    message_id = uuid.uuid4()
    job = outbox.job_payload({"message_id": str(message_id)}) if queued else None
    return runs.StoredReply(message_id, body, metadata, job)


async def hand_over_unanswerable(
    conn: asyncpg.Connection, ctx: MessageContext, adapter: ChannelAdapter | None
) -> None:
    """The agent failed on every attempt: a human takes the ticket (`ai_unavailable`) and the
    customer is told so. No agent run is recorded, so replaying the dead letter still lets
    the agent answer once the fault is fixed."""
    if adapter is not None:
        note = Reply(
            body=local.ESCALATION_NOTE,
            ticket_number=ctx.ticket_number,
            customer_name=ctx.customer_name,
        )
        for part in adapter.format_reply(note):
            await queue_outbound(
                conn,
                conversation_id=ctx.conversation_id,
                ticket_id=ctx.ticket_id,
                channel=ctx.channel,
                author="system",
                body=part,
                metadata={"decision": "escalate", "reason": AI_UNAVAILABLE},
                sent_when_stored=adapter.sent_when_stored,
            )
    await tickets.record_agent_outcome(
        conn, ctx.ticket_id, status="escalated", escalation_reason=AI_UNAVAILABLE, responded=False
    )


def count_decision(channel: str, decision: Decision) -> None:
    """The committed decision in the metrics (call after the commit: a rollback decided nothing)."""
    AGENT_DECISION.labels(decision.decision).observe(decision.latency_ms / 1000)
    if decision.decision == "escalate":
        TICKETS_ESCALATED.labels(channel, decision.reason or "unknown").inc()
