"""Importing into a real database: re-imports are no-ops, edits are re-embedded."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from fte.embeddings import Embedder
from fte.knowledge.importer import read_articles
from fte.knowledge.service import import_articles


async def test_reimport_is_a_noop_and_an_edit_replaces_the_chunks(
    pool: asyncpg.Pool, embedder: Embedder, tmp_path: Path
) -> None:
    (tmp_path / "a.md").write_text("# Pausing sync\n\nClick the icon, then Pause.")
    (tmp_path / "b.md").write_text("# Team folders\n\nAdmins create team folders.")
    first = await import_articles(pool, read_articles(tmp_path), embedder)
    assert (first.added, first.updated, first.unchanged) == (2, 0, 0)
    async with pool.acquire() as conn:
        before = await conn.fetch("SELECT id, updated_at FROM kb_articles ORDER BY source_key")

    again = await import_articles(pool, read_articles(tmp_path), embedder)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    async with pool.acquire() as conn:
        assert (
            await conn.fetch("SELECT id, updated_at FROM kb_articles ORDER BY source_key") == before
        )

    (tmp_path / "a.md").write_text(
        "# Pausing sync\n\nRight-click the icon and choose Pause syncing."
    )
    edited = await import_articles(pool, read_articles(tmp_path), embedder)
    assert (edited.added, edited.updated, edited.unchanged) == (0, 1, 1)
    async with pool.acquire() as conn:
        chunks = await conn.fetch(
            "SELECT c.content FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id "
            "WHERE a.source_key = 'file:a.md' ORDER BY c.ordinal"
        )
        assert await conn.fetchval("SELECT count(*) FROM kb_articles") == 2
    # The title on its own, then the new body; nothing of the old body is left.
    assert [c["content"] for c in chunks] == [
        "Pausing sync",
        "Pausing sync\n\nRight-click the icon and choose Pause syncing.",
    ]
