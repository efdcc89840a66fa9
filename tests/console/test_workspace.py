"""The ticket page puts the decision first, and a team works a ticket together: approve or
reject the agent's draft from the reply box, assign, internal notes, canned replies, each
action confirmed on the page it lands on."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service as auth
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests import factories
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, csrf_of, sign_in


def status_line(page: httpx.Response) -> str:
    match = re.search(r'<p class="status-line" id="status-line"><strong>(.*?)</strong>', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def flash(page: httpx.Response) -> str | None:
    match = re.search(r'<p class="flash" role="status">(.*?)</p>', page.text)
    return html.unescape(match.group(1)) if match else None


def reply_box(page: httpx.Response) -> str:
    match = re.search(r'<textarea id="reply-body"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert match, page.text
    return html.unescape(match.group(1))


@pytest.fixture
async def team(
    kb_db_url: str, kb_pool: asyncpg.Pool
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Ada (agent) and Bea (admin), each signed in on their own client."""
    async with kb_pool.acquire() as conn:
        await auth.add_user(conn, "ada@example.com", "Ada Lovelace", "agent", PASSWORD)
        await auth.add_user(conn, "bea@example.com", "Bea Smith", "admin", PASSWORD)
    async with (
        serve_app(kb_db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as ada,
        httpx.AsyncClient(base_url=base, timeout=10) as bea,
    ):
        await sign_in(ada, "ada@example.com")
        await sign_in(bea, "bea@example.com")
        yield {"ada": ada, "bea": bea}


async def drafted(kb_pool: asyncpg.Pool, embedder: Embedder, text: str, **kw: str) -> str:
    """A ticket whose agent drafted an answer in approval mode; its page's URL."""
    settings = make_settings(FTE_APPROVAL_MODE="true")
    worker = QueueWorker(kb_pool, settings, embedder, build_registry(settings), name="draft")
    filed = await factories.ticket(kb_pool, text, name="Sam Doe", **kw)
    assert await worker.run_once() == 1
    return f"/console/tickets/{filed.ticket_id}"


async def test_approval_puts_the_draft_in_the_reply_box_and_a_stale_click_is_told_who_sent_it(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    ada, bea = team["ada"], team["bea"]
    url = await drafted(kb_pool, embedder, "How do I reset my password?", subject="Password")
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT id, draft FROM agent_runs")

    page = await ada.get(url)
    stale = await bea.get(url)  # Bea has the same page open
    assert status_line(page) == "Waiting for approval"
    assert "The agent answers this ticket" not in page.text
    # One place to write: the draft is in the reply box, ready to edit and send.
    assert reply_box(page) == run["draft"] and page.text.count("<textarea") == 2  # + the note
    assert "Approve and send" in page.text and "Reject (reason)" in page.text

    form = {"csrf": csrf_of(page), "body": reply_box(page), "run_id": str(run["id"])}
    approved = await ada.post(f"{url}/reply", data=form)
    assert approved.status_code == 303
    after = await ada.get(approved.headers["location"])
    assert flash(after) == "Draft approved and sent."
    assert "Approve and send" not in after.text and reply_box(after) == ""
    assert status_line(after) == "Waiting for the customer"
    # The person's reply carries their name, not "human".
    assert '<span class="who">Ada Lovelace</span>' in after.text

    again = await bea.post(
        f"{url}/reply", data={**form, "csrf": csrf_of(stale)}, follow_redirects=True
    )
    assert again.status_code == 200 and flash(again) == "Already sent by Ada Lovelace."
    async with kb_pool.acquire() as conn:
        sent = await conn.fetch(
            "SELECT metadata FROM messages WHERE direction = 'outbound' AND author = 'human'"
        )
    assert len(sent) == 1 and sent[0]["metadata"]["user_name"] == "Ada Lovelace"


async def test_a_rejected_draft_leaves_the_box_and_its_reason_reaches_the_article(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    ada, bea = team["ada"], team["bea"]
    url = await drafted(kb_pool, embedder, "How do I reset my password?")
    async with kb_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT id, sources FROM agent_runs")
    article_id = run["sources"][0]["article_id"]
    page = await ada.get(url)
    reject = f"{url}/drafts/{run['id']}/reject"

    empty = await ada.post(reject, data={"csrf": csrf_of(page), "reason": " "})
    assert empty.status_code == 422 and '<strong class="field">reason</strong>' in empty.text
    why = "The reset link moved to Settings > Security last week."
    done = await ada.post(reject, data={"csrf": csrf_of(page), "reason": why})
    assert done.status_code == 303
    after = await ada.get(done.headers["location"])
    assert flash(after).startswith("Draft rejected.")  # type: ignore[union-attr]
    assert "Approve and send" not in after.text and reply_box(after) == ""
    assert f"Draft rejected by Ada Lovelace: {why}" in html.unescape(after.text)

    # A stale approval of the rejected draft sends nothing and says who rejected it.
    stale = await bea.post(
        f"{url}/reply",
        data={"csrf": csrf_of(await bea.get("/console")), "body": "x", "run_id": str(run["id"])},
        follow_redirects=True,
    )
    assert flash(stale) == "Already rejected by Ada Lovelace."
    article = await bea.get(f"/console/kb/{article_id}")
    assert why in html.unescape(article.text) and "Ada Lovelace" in article.text
    async with kb_pool.acquire() as conn:
        humans = await conn.fetchval("SELECT count(*) FROM messages WHERE author = 'human'")
        audit = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'draft.reject'")
    assert humans == 0 and audit["detail"]["reason"] == why


async def test_an_escalated_ticket_says_why_and_offers_its_draft(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada = team["ada"]
    filed = await factories.ticket(kb_pool, "I want a human, now.", name="Sam Doe")
    await factories.run(
        kb_pool, filed, decision="escalate", reason="human_requested", draft="Hi Sam, here is how."
    )
    url = f"/console/tickets/{filed.ticket_id}"
    page = await ada.get(url)
    assert status_line(page) == "Escalated: the customer asked for a person"
    assert "The agent answers this ticket" not in page.text
    assert reply_box(page) == "Hi Sam, here is how." and "Approve and send" in page.text
    sent = await ada.post(
        f"{url}/reply", data={"csrf": csrf_of(page), "body": "Hi Sam, I'm on it."}
    )
    assert flash(await ada.get(sent.headers["location"])) == "Reply sent."


async def test_assign_to_a_teammate_and_back_to_unassigned_audited(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada = team["ada"]
    filed = await factories.ticket(kb_pool, "Please call me.", name="Sam")
    url = f"/console/tickets/{filed.ticket_id}"
    page = await ada.get(url)
    async with kb_pool.acquire() as conn:
        bea_id = await conn.fetchval("SELECT id FROM users WHERE email = 'bea@example.com'")
    assert f'<option value="{bea_id}"' in page.text  # teammates are listed

    bad = await ada.post(f"{url}/assign", data={"csrf": csrf_of(page), "assignee": "nobody"})
    assert bad.status_code == 422 and '<strong class="field">assignee</strong>' in bad.text
    given = await ada.post(f"{url}/assign", data={"csrf": csrf_of(page), "assignee": str(bea_id)})
    shown = await ada.get(given.headers["location"])
    assert flash(shown) == "Ticket assigned." and status_line(shown) == "Assigned to Bea Smith"
    back = await ada.post(f"{url}/assign", data={"csrf": csrf_of(page), "assignee": ""})
    shown = await ada.get(back.headers["location"])
    assert flash(shown) == "Unassigned: the agent answers this ticket again."
    assert status_line(shown) == "With the agent"
    async with kb_pool.acquire() as conn:
        audit = await conn.fetch(
            "SELECT action, detail FROM audit_log WHERE ticket_id = $1 ORDER BY id",
            filed.ticket_id,
        )
    assert [(a["action"], a["detail"]["to"]) for a in audit] == [
        ("ticket.assign", str(bea_id)),
        ("ticket.hand_back", None),
    ]


async def test_an_internal_note_is_shown_to_the_team_and_never_sent(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada = team["ada"]
    filed = await factories.ticket(kb_pool, "Where is my invoice?", name="Sam")
    url = f"/console/tickets/{filed.ticket_id}"
    page = await ada.get(url)
    async with kb_pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox")
    note = "Customer is on the legacy plan: check billing first. <b>no html</b>"
    added = await ada.post(f"{url}/notes", data={"csrf": csrf_of(page), "body": note})
    shown = await ada.get(added.headers["location"])
    assert flash(shown) == "Note added. Only your team sees it."
    assert '<article class="note">' in shown.text and "Internal note · Ada Lovelace" in shown.text
    assert html.escape(note, quote=False) in shown.text
    async with kb_pool.acquire() as conn:
        outbound = await conn.fetchval("SELECT count(*) FROM messages WHERE direction = 'outbound'")
        after = await conn.fetchval("SELECT count(*) FROM outbox")
        stored = await conn.fetchrow("SELECT author, body FROM ticket_notes")
    assert outbound == 0 and after == before  # nothing queued for any channel
    assert (stored["author"], stored["body"]) == ("Ada Lovelace", note)
    public = await ada.get(f"/support/tickets/{filed.ticket_id}")
    assert "legacy plan" not in public.text


async def test_admins_manage_macros_and_the_reply_box_gets_them_filled(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada, bea = team["ada"], team["bea"]
    filed = await factories.ticket(kb_pool, "Thanks!", name="Sam Doe")
    macros = await bea.get("/console/macros")
    body = "Hi {{customer_name}}, ticket #{{ticket_number}} is sorted. {{agent_name}}"
    refused = await ada.post(
        "/console/macros",
        data={"csrf": csrf_of(await ada.get("/console/macros")), "name": "Sorted", "body": body},
    )
    assert refused.status_code == 403
    made = await bea.post(
        "/console/macros", data={"csrf": csrf_of(macros), "name": "Sorted", "body": body}
    )
    assert made.status_code == 303
    listed = await bea.get(made.headers["location"])
    assert flash(listed) == "Macro created."
    async with kb_pool.acquire() as conn:
        macro_id = await conn.fetchval("SELECT id FROM macros")
        number = await conn.fetchval("SELECT number FROM tickets")
    filled = await ada.get(f"/console/tickets/{filed.ticket_id}/macros/{macro_id}")
    assert filled.json() == {"text": f"Hi Sam, ticket #{number} is sorted. Ada"}
    page = await ada.get(f"/console/tickets/{filed.ticket_id}", params={"macro": macro_id})
    assert reply_box(page) == f"Hi Sam, ticket #{number} is sorted. Ada"

    dup = await bea.post(
        "/console/macros", data={"csrf": csrf_of(macros), "name": "Sorted", "body": "x"}
    )
    assert dup.status_code == 422 and '<strong class="field">name</strong>' in dup.text
    edit = await bea.post(
        f"/console/macros/{macro_id}", data={"csrf": csrf_of(macros), "name": "Done", "body": "Bye"}
    )
    assert edit.status_code == 303
    gone = await bea.post(f"/console/macros/{macro_id}/delete", data={"csrf": csrf_of(macros)})
    assert gone.status_code == 303
    async with kb_pool.acquire() as conn:
        actions = await conn.fetch(
            "SELECT action FROM audit_log WHERE action LIKE 'macro.%' ORDER BY id"
        )
    assert [a["action"] for a in actions] == ["macro.create", "macro.update", "macro.delete"]


async def test_the_approval_queue_is_a_filter_and_sorts_with_the_escalated(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    ada = team["ada"]
    answered = await factories.ticket(
        kb_pool, "Answered already", email="a@example.com", subject="Answered", priority="urgent"
    )
    await factories.run(kb_pool, answered, decision="answer")
    url = await drafted(
        kb_pool, embedder, "How do I reset my password?", email="d@example.com", subject="Drafted"
    )
    inbox = (await ada.get("/console")).text
    assert inbox.index(url) < inbox.index(f"/console/tickets/{answered.ticket_id}")
    assert "waiting for approval" in inbox
    queue = (await ada.get("/console", params={"status": "approval"})).text
    assert url in queue and str(answered.ticket_id) not in queue
    assert '<option value="approval" selected>' in queue


async def test_a_persons_email_reply_is_signed_with_their_first_name(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada = team["ada"]
    filed = await factories.ticket(kb_pool, "Invoice?", channel="email", name="Sam")
    url = f"/console/tickets/{filed.ticket_id}"
    page = await ada.get(url)
    await ada.post(f"{url}/reply", data={"csrf": csrf_of(page), "body": "Attached again."})
    async with kb_pool.acquire() as conn:
        body = await conn.fetchval("SELECT body FROM messages WHERE author = 'human'")
    assert body.startswith("Attached again.") and "Best regards,\nAda\n" in body


async def test_every_console_page_has_sign_out(
    team: dict[str, httpx.AsyncClient], kb_pool: asyncpg.Pool
) -> None:
    ada = team["ada"]
    filed = await factories.ticket(kb_pool, "Hello", name="Sam")
    for path in (
        "/console",
        "/console/dashboard",
        "/console/kb",
        "/console/macros",
        f"/console/tickets/{filed.ticket_id}",
    ):
        page = await ada.get(path)
        assert page.status_code == 200, path
        assert page.text.count('action="/console/logout"') == 1, path


async def test_presence_is_shared_by_every_api_process(db_url: str, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await auth.add_user(conn, "ada@example.com", "Ada Lovelace", "agent", PASSWORD)
        await auth.add_user(conn, "bea@example.com", "Bea Smith", "agent", PASSWORD)
    filed = await factories.ticket(pool, "Hello", name="Sam", thread="presence-1")
    url = f"/console/tickets/{filed.ticket_id}"
    async with (
        serve_app(db_url, make_settings()) as one,
        serve_app(db_url, make_settings()) as two,
        httpx.AsyncClient(base_url=one, timeout=10) as ada,
        httpx.AsyncClient(base_url=two, timeout=10) as bea,
    ):
        await sign_in(ada, "ada@example.com")
        await sign_in(bea, "bea@example.com")
        ada_csrf, bea_csrf = csrf_of(await ada.get(url)), csrf_of(await bea.get(url))
        assert (await ada.post(f"{url}/presence", data={"replying": "true"})).status_code == 403
        first = await ada.post(f"{url}/presence", data={"csrf": ada_csrf, "replying": "true"})
        assert first.json()["present"] == []
        seen = await bea.post(f"{url}/presence", data={"csrf": bea_csrf, "replying": "false"})
        assert seen.json()["present"] == ["Ada Lovelace is replying"]
        back = await ada.post(f"{url}/presence", data={"csrf": ada_csrf, "replying": "false"})
        assert back.json()["present"] == ["Bea Smith is viewing"]
        # The page compares versions to refresh itself: a new message changes it.
        before = seen.json()["version"]
        await factories.ticket(pool, "Still there?", name="Sam", thread="presence-1")
        later = await bea.post(f"{url}/presence", data={"csrf": bea_csrf})
        assert later.json()["version"] != before
        left = await ada.post(f"{url}/presence/leave", data={"csrf": ada_csrf})
        assert left.status_code == 204
        alone = await bea.post(f"{url}/presence", data={"csrf": bea_csrf})
        assert alone.json()["present"] == []
