"""The console's ticket view: the decision first (what the ticket waits for, the summary, the
draft in the reply box), the conversation with internal notes, the customer, the agent's runs;
and the changes a person makes (status, priority, assignee, reply, approve, reject), each one
audited and confirmed on the page it lands on."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fte.agent import repository as runs
from fte.auth.dependencies import FormSessionDep, SessionDep
from fte.auth.schemas import Session
from fte.console import customers, decision, queries
from fte.console.templates_env import templates
from fte.db import PoolDep, transaction
from fte.desk import macros
from fte.desk import repository as desk_repository
from fte.desk import service as desk
from fte.desk.presence import BEAT_SECONDS
from fte.errors import FteError, NotFound
from fte.tickets import notes_repository, service
from fte.tickets import repository as tickets

PRIORITIES: Final = ("low", "medium", "high", "urgent")
MAX_REPLY_CHARS: Final = 20_000
MAX_REASON_CHARS: Final = desk.MAX_REJECTION_CHARS

router = APIRouter(tags=["console"])


def ticket_url(ticket_id: uuid.UUID, done: str | None = None, **extra: str) -> str:
    """The ticket page, confirming `done` (a key of `decision.FLASHES`, or `already_*`)."""
    url = f"/console/tickets/{ticket_id}"
    return f"{url}?{urlencode({'done': done, **extra})}" if done else url


def back(ticket_id: uuid.UUID, done: str, **extra: str) -> RedirectResponse:
    return RedirectResponse(ticket_url(ticket_id, done, **extra), status_code=303)


async def _flash(conn: asyncpg.Connection, done: str | None, run: str | None) -> str | None:
    """The confirmation to show: a fixed text, or who sent / rejected a draft before."""
    if done in decision.FLASHES:
        return decision.FLASHES[done]
    run_id = _uuid(run)
    if done == "already_sent" and run_id:
        by = await desk_repository.reply_author(conn, run_id)
        return f"Already sent by {by or 'the agent'}."
    if done == "already_rejected" and run_id:
        earlier = await desk_repository.rejection_of_run(conn, run_id)
        return f"Already rejected by {(earlier and earlier['user_name']) or 'someone'}."
    return None


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _conversation(
    messages: list[asyncpg.Record], notes: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    """Messages and internal notes in the order they were written."""
    items = [{"kind": "message", **dict(m)} for m in messages]
    items += [{"kind": "note", **dict(n)} for n in notes]
    return sorted(items, key=lambda i: i["created_at"])


@router.get("/console/tickets/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
async def ticket_page(
    request: Request,
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: SessionDep,
    done: Annotated[str | None, Query(max_length=40)] = None,
    run: Annotated[str | None, Query(max_length=40)] = None,
    macro: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    async with pool.acquire() as conn:
        ticket = await tickets.get_ticket(conn, ticket_id)
        if ticket is None:
            raise NotFound("ticket not found")
        messages = await tickets.list_messages(conn, ticket_id)
        notes = await notes_repository.list_notes(conn, ticket_id)
        agent_runs = await runs.runs_for_ticket(conn, ticket_id)
        rejections = await desk_repository.rejected_runs(conn, ticket_id)
        customer = await customers.panel(conn, ticket["customer_id"], exclude_ticket=ticket_id)
        assignee = (
            await queries.user_name(conn, ticket["assignee_id"]) if ticket["assignee_id"] else None
        )
        teammates = await queries.teammates(conn)
        canned = await desk_repository.list_macros(conn)
        version = await queries.ticket_version(conn, ticket_id)
        flash = await _flash(conn, done, run)
        values = macros.values_for(ticket["customer_name"], ticket["number"], session.user.name)
        prefill = await macros.text_for(conn, macro, values) if macro else ""
    people = {m["id"] for m in messages if m["author"] == "human"}
    rejected = {r["run_id"]: r for r in rejections}
    draft = decision.open_draft(ticket, agent_runs, set(rejected), people)
    summary = next((r["summary"] for r in reversed(agent_runs) if r["summary"]), None)
    return templates.TemplateResponse(
        request,
        "ticket.html",
        {
            "session": session,
            "ticket": ticket,
            "conversation": _conversation(messages, notes),
            "runs": agent_runs,
            "rejected": rejected,
            "panel": customer,
            "assignee": assignee,
            "teammates": teammates,
            "macros": canned,
            "draft": draft,
            "prefill": prefill,
            "summary": summary,
            "status_line": decision.status_line(ticket, assignee, draft),
            "flash": flash,
            "version": version,
            "beat_seconds": BEAT_SECONDS,
            "statuses": queries.STATUSES,
            "priorities": PRIORITIES,
            "reason_words": decision.reason_words,
        },
    )


@router.post("/console/tickets/{ticket_id}", include_in_schema=False)
async def change_ticket(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    status: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "",
) -> Response:
    """Status and priority from the form; 403 without the CSRF token, 422 naming a bad field."""
    for field, value, allowed in (
        ("status", status, queries.STATUSES),
        ("priority", priority, PRIORITIES),
    ):
        if value not in allowed:
            raise FteError(
                "invalid request",
                detail=[{"field": field, "reason": f"must be one of {', '.join(allowed)}"}],
                status_code=422,
            )
    async with transaction(pool) as conn:
        changed = await service.change(
            conn, ticket_id, status, priority, actor=f"user:{session.user.id}"
        )
    return back(ticket_id, "saved" if changed else "unchanged")


@router.post("/console/tickets/{ticket_id}/take-over", include_in_schema=False)
async def take_over(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
) -> Response:
    """The signed-in person takes the ticket: the agent answers nothing on it from now on."""
    await _assign(ticket_id, pool, session, session.user.id)
    return back(ticket_id, "taken")


@router.post("/console/tickets/{ticket_id}/hand-back", include_in_schema=False)
async def hand_back(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
) -> Response:
    """Back to the agent: it answers the customer's next message again."""
    await _assign(ticket_id, pool, session, None)
    return back(ticket_id, "handed_back")


@router.post("/console/tickets/{ticket_id}/assign", include_in_schema=False)
async def assign(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    assignee: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Give the ticket to a teammate, or to nobody ("unassigned": the agent answers again)."""
    user_id = _uuid(assignee) if assignee else None
    async with pool.acquire() as conn:
        known = {t["id"] for t in await queries.teammates(conn)}
    if assignee and user_id not in known:
        raise FteError(
            "invalid request",
            detail=[{"field": "assignee", "reason": "not a person of this team"}],
            status_code=422,
        )
    await _assign(ticket_id, pool, session, user_id)
    if user_id is None:
        return back(ticket_id, "unassigned")
    return back(ticket_id, "taken" if user_id == session.user.id else "assigned")


async def _assign(
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: Session,
    user_id: uuid.UUID | None,
) -> None:
    async with transaction(pool) as conn:
        await service.assign(conn, ticket_id, user_id, actor=f"user:{session.user.id}")


@router.post("/console/tickets/{ticket_id}/reply", include_in_schema=False)
async def reply(
    request: Request,
    ticket_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    body: Annotated[str, Form(max_length=MAX_REPLY_CHARS)] = "",
    run_id: Annotated[uuid.UUID | None, Form()] = None,
) -> Response:
    """A person answers the customer on the ticket's channel, or with `run_id` approves that
    agent run's draft (as written or edited): `desk.service.reply`. A draft sent or rejected
    before (a second click, a stale page) lands back on the ticket saying who did it."""
    text = body.strip()
    if not text:
        raise FteError(
            "invalid request", detail=[{"field": "body", "reason": "empty"}], status_code=422
        )
    try:
        async with transaction(pool) as conn:
            await desk.reply(
                conn,
                ticket_id,
                request.app.state.adapters,
                user_id=session.user.id,
                user_name=session.user.name,
                text=text,
                run_id=run_id,
            )
    except desk.AlreadyDecided as exc:
        return back(ticket_id, f"already_{exc.kind}", run=str(run_id))
    return back(ticket_id, "approved" if run_id else "sent")


@router.post("/console/tickets/{ticket_id}/drafts/{run_id}/reject", include_in_schema=False)
async def reject(
    ticket_id: uuid.UUID,
    run_id: uuid.UUID,
    pool: PoolDep,
    session: FormSessionDep,
    reason: Annotated[str, Form(max_length=MAX_REASON_CHARS)] = "",
) -> Response:
    """Turn the agent's draft down with a reason: nothing is sent; the reason is shown to whoever
    edits the article the draft came from."""
    try:
        async with transaction(pool) as conn:
            await desk.reject_draft(conn, ticket_id, run_id, user_id=session.user.id, reason=reason)
    except desk.AlreadyDecided as exc:
        return back(ticket_id, f"already_{exc.kind}", run=str(run_id))
    return back(ticket_id, "rejected")
