"""Commit the agent's decision (run, reply, ticket move) in the caller's transaction."""

from __future__ import annotations

import asyncpg

from fte.agent import repository as runs
from fte.agent.runner import Decision, MessageContext
from fte.tickets import repository as tickets

_STATUS_AFTER = {"answer": "pending", "escalate": "escalated", "draft": "open"}


async def commit_decision(
    conn: asyncpg.Connection, ctx: MessageContext, decision: Decision, worker: str
) -> bool:
    """Record the decision once; False when the message had been handled already (no reply)."""
    run_id = await runs.insert_run(
        conn,
        message_id=ctx.message_id,
        ticket_id=ctx.ticket_id,
        decision=decision.decision,
        reason=decision.reason,
        confidence=decision.confidence,
        sources=[s.as_json() for s in decision.sources],
        draft=decision.draft,
        latency_ms=decision.latency_ms,
        model=decision.model,
        worker=worker,
    )
    if run_id is None:
        return False
    first_reply = None
    for part in decision.reply_parts:
        reply_id = await tickets.add_outbound_message(
            conn,
            conversation_id=ctx.conversation_id,
            ticket_id=ctx.ticket_id,
            channel=ctx.channel,
            author="agent",
            body=part,
            delivery_status="sent",
            metadata={"agent_run_id": str(run_id), "decision": decision.decision},
        )
        first_reply = first_reply or reply_id
    if first_reply is not None:
        await runs.set_reply(conn, run_id, first_reply)
    await tickets.record_agent_outcome(
        conn,
        ctx.ticket_id,
        status=_STATUS_AFTER[decision.decision],
        escalation_reason=decision.reason if decision.decision == "escalate" else None,
        responded=decision.decision == "answer",
    )
    return True
