"""SQL for knowledge-base articles and their embedded chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from fte.db import vector_literal


async def content_hashes(conn: asyncpg.Connection, keys: Sequence[str]) -> dict[str, str]:
    """source_key → content_hash for the articles already stored."""
    rows = await conn.fetch(
        "SELECT source_key, content_hash FROM kb_articles WHERE source_key = ANY($1::text[])",
        list(keys),
    )
    return {r["source_key"]: r["content_hash"] for r in rows}


async def upsert_article(
    conn: asyncpg.Connection,
    *,
    source_key: str,
    title: str,
    body: str,
    content_hash: str,
    chunks: Sequence[tuple[str, Sequence[float]]],
) -> uuid.UUID:
    """Insert or replace an article and all its chunks."""
    article_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO kb_articles (source_key, title, body, content_hash)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (source_key) DO UPDATE
            SET title = EXCLUDED.title, body = EXCLUDED.body,
                content_hash = EXCLUDED.content_hash, updated_at = now()
        RETURNING id
        """,
        source_key,
        title,
        body,
        content_hash,
    )
    await conn.execute("DELETE FROM kb_chunks WHERE article_id = $1", article_id)
    await conn.executemany(
        "INSERT INTO kb_chunks (article_id, ordinal, content, embedding) "
        "VALUES ($1, $2, $3, $4::vector)",
        [(article_id, i, text, vector_literal(vec)) for i, (text, vec) in enumerate(chunks)],
    )
    return article_id


async def count_articles(conn: asyncpg.Connection) -> int:
    """How many articles the knowledge base holds."""
    return int(await conn.fetchval("SELECT count(*) FROM kb_articles"))


async def nearest_chunks(
    conn: asyncpg.Connection, embedding: Sequence[float], limit: int
) -> list[asyncpg.Record]:
    """The chunks closest to the embedding by cosine, with their article and similarity."""
    return await conn.fetch(
        """
        SELECT c.article_id, c.content, a.title, a.body,
               1 - (c.embedding <=> $1::vector) AS score
        FROM kb_chunks c JOIN kb_articles a ON a.id = c.article_id
        ORDER BY c.embedding <=> $1::vector
        LIMIT $2
        """,
        vector_literal(embedding),
        limit,
    )
