"""The help desk: what a person sends on a ticket, from the console or from the channel itself
(a Chatwoot agent's `/approve` note): their own reply, or the agent's draft approved as written
or edited. It sits above the agent and delivery, whose runs and queue it uses, and below the
routes and channels that call it; the ticket's own rules stay in `tickets/service.py`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from fte.agent import repository as runs
from fte.agent.formatting import split_text
from fte.auth.repository import audit
from fte.delivery.service import queue_outbound
from fte.desk import repository as desk_repository
from fte.errors import FteError, NotFound
from fte.messaging import ChannelAdapter
from fte.tickets import repository

MAX_REJECTION_CHARS = 2_000


class AlreadyDecided(FteError):
    """The draft was sent or rejected before (another person, or this one on a stale page)."""

    status_code = 409

    def __init__(self, kind: str, by: str | None):
        default = "the agent" if kind == "sent" else "someone"
        super().__init__(f"Already {kind} by {by or default}")
        self.kind = kind  # "sent" or "rejected"
        self.by = by


@dataclass(frozen=True)
class Published:
    """The messages queued for the customer; empty when the draft had been published before."""

    messages: list[uuid.UUID]
    edited: bool = False

    @property
    def already(self) -> bool:
        """True when an earlier approval published the draft: nothing new was queued."""
        return not self.messages


@dataclass(frozen=True)
class ThreadApproval:
    """A draft approved in the channel: its ticket's number, its run, what was queued."""

    ticket_number: int
    run_id: uuid.UUID
    published: Published


async def _send_as_person(
    conn: asyncpg.Connection,
    ticket: asyncpg.Record,
    adapter: ChannelAdapter,
    body: str,
    metadata: dict[str, object],
) -> list[uuid.UUID]:
    """Queue a person's words through the delivery queue, signed with their name where the
    channel signs replies (`user_name` in `metadata`), in parts where the channel limits a
    message's length; the ticket then waits on the customer."""
    person = metadata.get("user_name")
    if isinstance(person, str) and person:
        body = adapter.sign(body, person)
    parts = split_text(body, adapter.max_chars) if adapter.max_chars else [body]
    sent = [
        await queue_outbound(
            conn,
            conversation_id=ticket["conversation_id"],
            ticket_id=ticket["id"],
            channel=ticket["channel"],
            author="human",
            body=part,
            metadata=metadata,
            sent_when_stored=adapter.sent_when_stored,
        )
        for part in parts
    ]
    await repository.record_agent_outcome(
        conn, ticket["id"], status="pending", escalation_reason=None, responded=True
    )
    return sent


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
    if run["published"]:
        return Published(messages=[])
    draft = (run["draft"] or "").strip()
    body = (text or "").strip() or draft
    sent = await _send_as_person(
        conn,
        ticket,
        adapter,
        body,
        {**(metadata or {}), "agent_run_id": str(run_id), "approved": True},
    )
    await runs.set_reply(conn, run_id, sent[0])
    edited = body != draft
    detail: dict[str, object] = {
        "messages": [str(m) for m in sent],
        "run_id": str(run_id),
        "edited": edited,
    }
    await audit(conn, actor, "draft.approve", ticket["id"], detail)
    return Published(messages=sent, edited=edited)


async def reply(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    adapters: Mapping[str, ChannelAdapter],
    *,
    user_id: uuid.UUID,
    text: str,
    run_id: uuid.UUID | None = None,
    user_name: str | None = None,
) -> None:
    """A person answers the customer on the ticket's channel, through the same delivery queue
    as the agent's replies, audited; the message keeps who wrote it (`user_id`, `user_name`).
    With `run_id` it is that agent run's draft, approved (as written or edited): sent at most
    once, `AlreadyDecided` (409) naming who sent or rejected it before. The ticket waits on the
    customer afterwards."""
    ticket = await repository.get_ticket(conn, ticket_id)
    if ticket is None:
        raise NotFound("ticket not found")
    adapter = adapters.get(ticket["channel"])
    if adapter is None:
        raise FteError(f"channel {ticket['channel']} is not available", status_code=409)
    actor = f"user:{user_id}"
    metadata: dict[str, object] = {"user_id": str(user_id)}
    if user_name:
        metadata["user_name"] = user_name
    if run_id:
        # Locked first, so a rejection at the same moment is seen or waits.
        await runs.lock_draft(conn, run_id, ticket_id)
        rejected = await desk_repository.rejection_of_run(conn, run_id)
        if rejected is not None:
            by = rejected["user_name"]
            raise AlreadyDecided("rejected", by)
        published = await publish_draft(
            conn,
            ticket=ticket,
            adapter=adapter,
            run_id=run_id,
            actor=actor,
            text=text,
            metadata=metadata,
        )
        if published is None:
            raise FteError(
                "invalid request",
                detail=[{"field": "run_id", "reason": "no draft of this ticket"}],
                status_code=422,
            )
        if published.already:
            by = await desk_repository.reply_author(conn, run_id)
            raise AlreadyDecided("sent", by)
        return
    sent = await _send_as_person(conn, ticket, adapter, text, metadata)
    detail: dict[str, object] = {"messages": [str(m) for m in sent]}
    await audit(conn, actor, "ticket.reply", ticket_id, detail)


async def reject_draft(
    conn: asyncpg.Connection,
    ticket_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    reason: str,
) -> None:
    """A person turns the agent's draft down, with the reason: nothing is sent, the draft leaves
    the reply box, and the reason is kept for whoever edits the article it came from. Audited
    as `draft.reject`; `AlreadyDecided` when it was sent or rejected before."""
    why = reason.strip()
    if not why or len(why) > MAX_REJECTION_CHARS:
        problem = "empty" if not why else f"longer than {MAX_REJECTION_CHARS} characters"
        raise FteError(
            "invalid request", detail=[{"field": "reason", "reason": problem}], status_code=422
        )
    run = await runs.lock_draft(conn, run_id, ticket_id)
    if run is None:
        raise FteError(
            "invalid request",
            detail=[{"field": "run_id", "reason": "no draft of this ticket"}],
            status_code=422,
        )
    if run["published"]:
        by = await desk_repository.reply_author(conn, run_id)
        raise AlreadyDecided("sent", by)
    if not await desk_repository.insert_rejection(conn, run_id, ticket_id, user_id, why):
        earlier = await desk_repository.rejection_of_run(conn, run_id)
        by = earlier["user_name"] if earlier else None
        raise AlreadyDecided("rejected", by)
    detail: dict[str, object] = {"run_id": str(run_id), "reason": why}
    await audit(conn, f"user:{user_id}", "draft.reject", ticket_id, detail)


async def approve_in_thread(
    conn: asyncpg.Connection,
    adapter: ChannelAdapter,
    thread: str,
    *,
    note: str | None,
    actor: str,
    metadata: dict[str, object],
) -> ThreadApproval | None:
    """A person approved a draft in the channel itself: publish the draft of the thread's open
    ticket that was posted as `note` (the latest draft when None), once. None when there is no
    such draft."""
    ticket_id = await repository.find_open_ticket_by_thread(conn, adapter.name, thread)
    ticket = await repository.get_ticket(conn, ticket_id) if ticket_id else None
    run_id = await runs.draft_noted(conn, ticket["id"], note) if ticket else None
    if ticket is None or run_id is None:
        return None
    published = await publish_draft(
        conn, ticket=ticket, adapter=adapter, run_id=run_id, actor=actor, metadata=metadata
    )
    assert published is not None  # the run was found by its draft note
    return ThreadApproval(ticket["number"], run_id, published)
