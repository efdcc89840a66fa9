"""The ticket view: what the agent did and why, and a person's changes, audited."""

from __future__ import annotations

from collections.abc import Awaitable

import asyncpg
import httpx

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.intake.service import IntakeResult
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings
from tests.fixtures.console import csrf_of


async def test_the_ticket_shows_the_conversation_the_runs_and_the_customer(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    filed = await factories.ticket(
        kb_pool,
        "I forgot my password. How can I reset it? <script>alert(1)</script>",
        name="Sam <b>Doe</b>",
        subject="Password",
    )
    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="view")
    assert await worker.run_once() == 1

    page = await console.get(f"/console/tickets/{filed.ticket_id}")
    assert page.status_code == 200
    assert "How can I reset it?" in page.text and "&lt;script&gt;" in page.text
    assert "<script>alert(1)</script>" not in page.text and "<b>Doe</b>" not in page.text
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM agent_runs")
    top = run["sources"][0]
    assert f"{top['title']} ({top['score']:.2f})" in page.text
    assert "answer" in page.text and "sam@example.com" in page.text
    assert (await console.get("/console")).text.count(f"/console/tickets/{filed.ticket_id}") == 1


async def test_status_and_priority_changes_need_the_token_and_are_audited(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    filed = await factories.ticket(kb_pool, "Please call me back.", name="Sam", subject="Help")
    url = f"/console/tickets/{filed.ticket_id}"
    page = await console.get(url)
    form = {"status": "resolved", "priority": "urgent"}

    assert (await console.post(url, data=form)).status_code == 403
    bad = await console.post(url, data={**form, "status": "done", "csrf": csrf_of(page)})
    assert bad.status_code == 422 and '<strong class="field">status</strong>' in bad.text
    saved = await console.post(url, data={**form, "csrf": csrf_of(page)})
    assert saved.status_code == 303 and saved.headers["location"] == f"{url}?done=saved"
    assert "Status and priority saved." in (await console.get(saved.headers["location"])).text

    async with kb_pool.acquire() as conn:
        ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
        audit = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'ticket.change'")
        learn = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'learn'")
    assert (ticket["status"], ticket["priority"]) == ("resolved", "urgent")
    assert ticket["resolved_at"] is not None and learn == 1
    assert audit["ticket_id"] == filed.ticket_id and audit["actor"].startswith("user:")
    assert audit["detail"] == {
        "status": {"from": "open", "to": "resolved"},
        "priority": {"from": "medium", "to": "urgent"},
    }
    missing = await console.get("/console/tickets/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_the_agent_is_silent_while_a_person_has_the_ticket(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    def say(text: str) -> Awaitable[IntakeResult]:
        return factories.ticket(kb_pool, text, name="Sam", thread="thread-takeover")

    settings = make_settings()
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="quiet")
    first = await say("How do I reset my password?")
    await worker.run_once()
    url = f"/console/tickets/{first.ticket_id}"
    page = await console.get(url)
    assert "<strong>Waiting for the customer</strong>" in page.text
    assert (await console.post(f"{url}/take-over", data={})).status_code == 403
    taken = await console.post(f"{url}/take-over", data={"csrf": csrf_of(page)})
    assert taken.status_code == 303
    assert (
        "<strong>Assigned to Ada · Waiting for the customer</strong>"
        in (await console.get(url)).text
    )
    mine = await console.get("/console", params={"assignee": "me"})
    assert url in mine.text
    assert url not in (await console.get("/console", params={"assignee": "nobody"})).text

    second = await say("And how do I change my email address?")
    assert second.ticket_id == first.ticket_id
    await worker.run_once()
    async with kb_pool.acquire() as conn:
        silent = await conn.fetchval(
            "SELECT count(*) FROM agent_runs WHERE message_id = $1", second.message_id
        )
        waiting = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE topic = 'inbound' AND processed_at IS NULL"
        )
    assert silent == 0 and waiting == 0

    back = await console.post(f"{url}/hand-back", data={"csrf": csrf_of(page)})
    assert back.status_code == 303
    third = await say("Thanks. How do I pause syncing?")
    await worker.run_once()
    async with kb_pool.acquire() as conn:
        answered = await conn.fetchval(
            "SELECT count(*) FROM agent_runs WHERE message_id = $1", third.message_id
        )
        actions = await conn.fetch(
            "SELECT action FROM audit_log WHERE ticket_id = $1 ORDER BY id", first.ticket_id
        )
    assert answered == 1
    assert [a["action"] for a in actions] == ["ticket.take_over", "ticket.hand_back"]


async def test_a_person_replies_and_approves_a_draft_once(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    settings = make_settings(FTE_APPROVAL_MODE="true")
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="draft")
    filed = await factories.ticket(kb_pool, "How do I reset my password?", name="Sam")
    await worker.run_once()
    url = f"/console/tickets/{filed.ticket_id}"
    page = await console.get(url)
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT id, draft FROM agent_runs")
    assert run["draft"] and 'name="run_id" value="' + str(run["id"]) + '"' in page.text

    empty = await console.post(f"{url}/reply", data={"csrf": csrf_of(page), "body": "  "})
    assert empty.status_code == 422 and '<strong class="field">body</strong>' in empty.text
    assert (await console.post(f"{url}/reply", data={"body": "hi"})).status_code == 403

    edited = run["draft"] + "\n\nAnything else, just reply here."
    approved = await console.post(
        f"{url}/reply", data={"csrf": csrf_of(page), "body": edited, "run_id": str(run["id"])}
    )
    assert approved.status_code == 303
    twice = await console.post(
        f"{url}/reply", data={"csrf": csrf_of(page), "body": edited, "run_id": str(run["id"])}
    )
    # A draft is published once (console or Chatwoot); a stale second click says who sent it.
    assert twice.status_code == 303 and "done=already_sent" in twice.headers["location"]
    assert "Already sent by Ada." in (await console.get(twice.headers["location"])).text
    own = await console.post(
        f"{url}/reply", data={"csrf": csrf_of(page), "body": "<b>Also</b>: check spam."}
    )
    assert own.status_code == 303

    async with kb_pool.acquire() as conn:
        sent = await conn.fetch(
            "SELECT body, author, delivery_status FROM messages "
            "WHERE ticket_id = $1 AND direction = 'outbound' ORDER BY created_at",
            filed.ticket_id,
        )
        jobs = await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'deliver'")
        ticket = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", filed.ticket_id)
        audit = await conn.fetch(
            "SELECT action, detail FROM audit_log WHERE ticket_id = $1 ORDER BY id",
            filed.ticket_id,
        )
    # On the web form stored is delivered (the status page shows it): no delivery job.
    assert [(m["author"], m["delivery_status"]) for m in sent] == [("human", "sent")] * 2
    assert sent[0]["body"] == edited and jobs == 0
    assert ticket["status"] == "pending" and ticket["first_response_at"] is not None
    assert [a["action"] for a in audit] == ["draft.approve", "ticket.reply"]
    assert audit[0]["detail"]["edited"] is True
    shown = (await console.get(url)).text
    assert "&lt;b&gt;Also&lt;/b&gt;: check spam." in shown


async def test_a_long_reply_on_whatsapp_goes_out_in_parts_the_provider_takes(
    console: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    filed = await factories.ticket(
        kb_pool,
        "Can you explain the sync settings?",
        channel="whatsapp",
        phone="+14155550100",
        name="Kim",
    )
    url = f"/console/tickets/{filed.ticket_id}"
    page = await console.get(url)
    long = "\n\n".join(f"Step {i}: " + "set it up like this. " * 20 for i in range(8))
    assert len(long) > 3200
    sent = await console.post(f"{url}/reply", data={"csrf": csrf_of(page), "body": long})
    assert sent.status_code == 303
    async with kb_pool.acquire() as conn:
        parts = await conn.fetch(
            "SELECT body FROM messages WHERE ticket_id = $1 AND direction = 'outbound' "
            "ORDER BY created_at",
            filed.ticket_id,
        )
    assert len(parts) >= 3 and all(len(p["body"]) <= 1600 for p in parts)
    # Nothing lost or reordered (parts break at whitespace).
    assert "".join("".join(p["body"] for p in parts).split()) == "".join(long.split())
