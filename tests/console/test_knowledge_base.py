"""The knowledge base pages: agents read and search, admins edit; a worker re-embeds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from fte.auth import service
from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.worker.queue_worker import QueueWorker
from tests.conftest import make_settings, serve_app
from tests.fixtures.console import PASSWORD, csrf_of, sign_in

ARTICLE = {
    "title": "Connecting a Zebra label printer",
    "body": "Open Settings, then Devices, and pick the Zebra printer from the list.\n\n"
    "The printer must be on the same network as the desk.",
}


@pytest.fixture
async def admin(kb_db_url: str, kb_pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    async with kb_pool.acquire() as conn:
        await service.add_user(conn, "grace@example.com", "Grace", "admin", PASSWORD)
    async with (
        serve_app(kb_db_url, make_settings()) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        await sign_in(client, "grace@example.com")
        yield client


def worker(pool: asyncpg.Pool, embedder: Embedder) -> QueueWorker:
    settings = make_settings()
    return QueueWorker(pool, settings, embedder, build_registry(settings), name="kb")


async def create(client: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    page = await client.get("/console/kb/new")
    return await client.post("/console/kb", data={**form, "csrf": csrf_of(page)})


async def test_agents_list_and_search_but_cannot_edit(console: httpx.AsyncClient) -> None:
    listing = await console.get("/console/kb")
    assert listing.status_code == 200
    assert 'id="articles"' in listing.text and "New article" not in listing.text
    found = await console.get("/console/kb", params={"q": "reset password"})
    assert "password" in found.text.lower()
    assert found.text.count("<tr>") < listing.text.count("<tr>")
    nothing = await console.get("/console/kb", params={"q": "zzyzx-unknown"})
    assert "No article matches" in nothing.text
    assert (await console.get("/console/kb/new")).status_code == 403
    page = await console.get("/console")
    refused = await console.post("/console/kb", data={**ARTICLE, "csrf": csrf_of(page)})
    assert refused.status_code == 403


async def test_admin_creates_edits_and_deletes_with_background_embedding(
    admin: httpx.AsyncClient, kb_pool: asyncpg.Pool, embedder: Embedder
) -> None:
    created = await create(admin, ARTICLE)
    assert created.status_code == 303
    page_url = created.headers["location"]
    article_id = page_url.rsplit("/", 1)[1]
    page = await admin.get(page_url)
    assert 'id="kb-status"' in page.text and ">pending<" in page.text
    assert (await admin.get(f"{page_url}/status")).json()["status"] == "pending"

    assert await worker(kb_pool, embedder).run_once() == 1
    assert (await admin.get(f"{page_url}/status")).json() == {"status": "done", "error": None}
    async with kb_pool.acquire() as conn:
        chunks = await conn.fetch(
            "SELECT content FROM kb_chunks WHERE article_id = $1 ORDER BY ordinal", article_id
        )
    # The importer's chunker: the title alone, then title + body.
    assert chunks[0]["content"] == ARTICLE["title"]
    assert "same network" in chunks[1]["content"]
    found = await admin.get("/console/kb", params={"q": "zebra printer"})
    assert ARTICLE["title"] in found.text

    # Two edits before a worker runs: the first job finds the article changed and skips.
    for body in ("First draft about Zebra printers.", "Pair the Zebra printer over Bluetooth."):
        edit_page = await admin.get(page_url)
        saved = await admin.post(
            page_url, data={"title": ARTICLE["title"], "body": body, "csrf": csrf_of(edit_page)}
        )
        assert saved.status_code == 303
    assert (await admin.get(f"{page_url}/status")).json()["status"] == "pending"
    # One job per article at a time (jobs share the article's key): in order.
    runner = worker(kb_pool, embedder)
    assert [await runner.run_once() for _ in range(3)] == [1, 1, 0]
    async with kb_pool.acquire() as conn:
        contents = await conn.fetchval(
            "SELECT string_agg(content, ' | ') FROM kb_chunks WHERE article_id = $1", article_id
        )
    assert "Bluetooth" in contents and "First draft" not in contents
    assert (await admin.get(f"{page_url}/status")).json()["status"] == "done"

    delete_page = await admin.get(page_url)
    deleted = await admin.post(f"{page_url}/delete", data={"csrf": csrf_of(delete_page)})
    assert deleted.status_code == 303
    assert (await admin.get(page_url)).status_code == 404
    async with kb_pool.acquire() as conn:
        actions = [
            r["action"]
            for r in await conn.fetch(
                "SELECT action FROM audit_log WHERE action LIKE 'kb.%' ORDER BY id"
            )
        ]
        assert await conn.fetchval("SELECT count(*) FROM kb_chunks WHERE article_id = $1",
                                   article_id) == 0  # fmt: skip
    assert actions == ["kb.create", "kb.update", "kb.update", "kb.delete"]


async def test_forms_need_the_csrf_token_and_valid_fields(
    admin: httpx.AsyncClient, kb_pool: asyncpg.Pool
) -> None:
    assert (await admin.post("/console/kb", data=ARTICLE)).status_code == 403
    empty = await create(admin, {"title": "  ", "body": "text"})
    assert empty.status_code == 422 and "title" in empty.text
    bad = await create(admin, {**ARTICLE, "escalation_reason": "weather"})
    assert bad.status_code == 422 and "escalation_reason" in bad.text
    async with kb_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM kb_articles WHERE source_key "
                                   "LIKE 'console:%'") == 0  # fmt: skip
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE topic = 'kb_embed'") == 0
