"""Publishing an approved draft: the one path for the console's "approve draft" and for an
approval given in the channel itself (a Chatwoot agent's `/approve` note)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from fte.agent import repository as runs
from fte.agent.formatting import split_text
from fte.auth.repository import audit
from fte.channels.base import ChannelAdapter
from fte.delivery.service import queue_outbound
from fte.tickets import repository as tickets


@dataclass(frozen=True)
class Published:
    """The messages queued for the customer; empty when the draft had been published before."""

    messages: list[uuid.UUID]
    edited: bool = False

    @property
    def already(self) -> bool:
        """True when an earlier approval published the draft: nothing new was queued."""
        return not self.messages


async def publish_draft(
    conn: asyncpg.Connection,
    *,
    ticket: asyncpg.Record,
    adapter: ChannelAdapter,
    run_id: uuid.UUID,
    actor: str,
    text: str | None = None,
    metadata: dict[str, object] | None = None,
) -> Published | None:
    """Queue the run's draft (or the person's edit of it, `text`) through the delivery queue,
    in the caller's transaction, and audit it as `draft.approve`. At most once per run: a
    second approval queues nothing. None when the run left no draft on this ticket."""
    run = await runs.lock_draft(conn, run_id, ticket["id"])
    if run is None:
        return None
    if run["reply_message_id"] is not None:
        return Published(messages=[])
    draft = (run["draft"] or "").strip()
    body = (text or "").strip() or draft
    # Sent as written (a draft is already dressed for the channel), in parts where the channel
    # limits a message's length.
    parts = split_text(body, adapter.max_chars) if adapter.max_chars else [body]
    sent = [
        await queue_outbound(
            conn,
            conversation_id=ticket["conversation_id"],
            ticket_id=ticket["id"],
            channel=ticket["channel"],
            author="human",
            body=part,
            metadata={**(metadata or {}), "agent_run_id": str(run_id), "approved": True},
            sent_when_stored=adapter.sent_when_stored,
        )
        for part in parts
    ]
    await runs.set_reply(conn, run_id, sent[0])
    await tickets.record_agent_outcome(
        conn, ticket["id"], status="pending", escalation_reason=None, responded=True
    )
    edited = body != draft
    detail: dict[str, object] = {
        "messages": [str(m) for m in sent],
        "run_id": str(run_id),
        "edited": edited,
    }
    await audit(conn, actor, "draft.approve", ticket["id"], detail)
    return Published(messages=sent, edited=edited)
