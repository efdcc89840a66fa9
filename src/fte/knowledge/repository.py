"""SQL for knowledge-base articles and their embedded chunks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import numpy as np
import numpy.typing as npt
from pgvector import Vector


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
    escalation_reason: str | None,
    content_hash: str,
    chunks: Sequence[tuple[str, Sequence[float]]],
) -> uuid.UUID:
    """Insert or replace an article and all its chunks."""
    article_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO kb_articles (source_key, title, body, escalation_reason, content_hash)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (source_key) DO UPDATE
            SET title = EXCLUDED.title, body = EXCLUDED.body,
                escalation_reason = EXCLUDED.escalation_reason,
                content_hash = EXCLUDED.content_hash, updated_at = now()
        RETURNING id
        """,
        source_key,
        title,
        body,
        escalation_reason,
        content_hash,
    )
    await conn.execute("DELETE FROM kb_chunks WHERE article_id = $1", article_id)
    await conn.executemany(
        "INSERT INTO kb_chunks (article_id, ordinal, content, embedding) "
        "VALUES ($1, $2, $3, $4::vector)",
        [(article_id, i, text, vec) for i, (text, vec) in enumerate(chunks)],
    )
    return article_id


async def example_keys(conn: asyncpg.Connection, keys: Sequence[str]) -> set[str]:
    """The example source keys already stored."""
    rows = await conn.fetch(
        "SELECT source_key FROM kb_examples WHERE source_key = ANY($1::text[])", list(keys)
    )
    return {r["source_key"] for r in rows}


async def article_ids(conn: asyncpg.Connection, keys: set[str]) -> dict[str, uuid.UUID]:
    """source_key → id for these articles."""
    rows = await conn.fetch(
        "SELECT source_key, id FROM kb_articles WHERE source_key = ANY($1::text[])", list(keys)
    )
    return {r["source_key"]: r["id"] for r in rows}


async def insert_examples(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[uuid.UUID, str, str, str, Sequence[float]]],
) -> None:
    """(article_id, source, source_key, text, embedding) rows; existing keys are kept."""
    await conn.executemany(
        """
        INSERT INTO kb_examples (article_id, source, source_key, text, embedding)
        VALUES ($1, $2, $3, $4, $5::vector) ON CONFLICT (source_key) DO NOTHING
        """,
        [(a, src, key, text, vec) for a, src, key, text, vec in rows],
    )


async def count_articles(conn: asyncpg.Connection) -> int:
    """How many articles the knowledge base holds."""
    return int(await conn.fetchval("SELECT count(*) FROM kb_articles"))


# Candidates for a batch of queries, in one round trip: for each, the nearest chunks (titles
# included) and nearest past questions by cosine, and full-text matches (any query term; OR,
# not AND) by ts_rank. One statement for the worker's whole batch, where each message took a
# round trip of its own (and another for its articles' confidence, below): the asyncpg client
# spends about 0.1 ms of CPU on each. Bound as arrays, the batch statements are planned on
# every call, once a batch (about 0.02 ms a message).
# ts_rank, not ts_rank_cd: the same top-1 and MRR on the bitext and stackfaq dev splits, and the
# query took a third less time (cover density allocates per matching chunk; 74 chunks match
# a typical question's terms in the embedded KB).
# The limits are written into the statement, not bound: with a LIMIT parameter PostgreSQL
# judged its generic plan costlier and planned the query again on every call.
# MATERIALIZED: each query's tsquery is parsed once, not once per use (4.4 → 3.7 ms a batch
# of 16 on the bitext KB). Each query's vector reaches the subqueries as a parameter, so the
# HNSW indexes serve the nearest-neighbour searches.
_EVIDENCE = """
WITH q AS MATERIALIZED (
    SELECT i, v, replace(websearch_to_tsquery('english', t)::text, ' & ', ' | ')::tsquery AS tsq
    FROM unnest($1::vector[], $2::text[]) WITH ORDINALITY AS u(v, t, i)
)
SELECT q.i AS query, found.* FROM q CROSS JOIN LATERAL (
    (SELECT c.article_id, 'chunk' AS kind, 1 - (c.embedding <=> q.v) AS score
     FROM kb_chunks c ORDER BY c.embedding <=> q.v LIMIT {vector_limit:d})
    UNION ALL
    (SELECT e.article_id, 'example', 1 - (e.embedding <=> q.v)
     FROM kb_examples e ORDER BY e.embedding <=> q.v LIMIT {vector_limit:d})
    UNION ALL
    (SELECT c.article_id, 'text', ts_rank(c.tsv, q.tsq, 32)
     FROM kb_chunks c WHERE c.tsv @@ q.tsq ORDER BY 3 DESC LIMIT {text_limit:d})
) found
"""


async def search_evidence(
    conn: asyncpg.Connection,
    embeddings: npt.NDArray[np.float32],
    queries: Sequence[str],
    vector_limit: int,
    text_limit: int,
) -> list[asyncpg.Record]:
    """(query, article_id, kind, score) rows for a batch of queries (one embedding row each):
    `query` is the 1-based position in `queries`; kind is chunk, example (cosine) or text
    (ts_rank)."""
    if not queries:
        return []
    sql = _EVIDENCE.format(vector_limit=vector_limit, text_limit=text_limit)
    return await conn.fetch(sql, _vectors(embeddings), list(queries))


async def articles_with_confidence(
    conn: asyncpg.Connection,
    wanted: Sequence[tuple[int, uuid.UUID]],
    embeddings: npt.NDArray[np.float32],
) -> list[asyncpg.Record]:
    """(query, id, title, body, escalation_reason, confidence, passage) for each (query,
    article) pair wanted: the article with its best cosine to that query (1-based, as in
    `search_evidence`) over its chunks and examples (exact), and its chunk (the title alone
    aside) nearest to the query."""
    if not wanted:
        return []
    return await conn.fetch(
        """
        WITH q AS (SELECT v, i FROM unnest($1::vector[]) WITH ORDINALITY AS u(v, i)),
        w AS (SELECT i, article_id FROM unnest($2::bigint[], $3::uuid[]) AS u(i, article_id))
        SELECT w.i AS query, a.id, a.title, a.body, a.escalation_reason,
               GREATEST(
                   (SELECT max(1 - (c.embedding <=> q.v)) FROM kb_chunks c
                     WHERE c.article_id = a.id),
                   (SELECT max(1 - (e.embedding <=> q.v)) FROM kb_examples e
                     WHERE e.article_id = a.id)
               ) AS confidence,
               (SELECT c.content FROM kb_chunks c WHERE c.article_id = a.id AND c.ordinal > 0
                 ORDER BY c.embedding <=> q.v LIMIT 1) AS passage
        FROM w JOIN q ON q.i = w.i JOIN kb_articles a ON a.id = w.article_id
        """,
        _vectors(embeddings),
        [i for i, _ in wanted],
        [a for _, a in wanted],
    )


async def past_question_confidence(
    conn: asyncpg.Connection, quantile: float, sample: int
) -> tuple[int, float | None]:
    """(how many, the `quantile` of) past questions' confidence in their own article with the
    question itself left out: its best cosine to the article's chunks and other questions, as
    retrieval would score it. Over `sample` questions of a large history, spread over it (a
    history is often stored topic by topic: the first ones by id would be a few topics')."""
    row = await conn.fetchrow(
        f"""
        WITH e AS (
            SELECT id, article_id, embedding FROM kb_examples
            ORDER BY md5(id::text) LIMIT {sample:d}
        ),
        own AS (
            SELECT GREATEST(
                (SELECT max(1 - (x.embedding <=> e.embedding)) FROM kb_examples x
                  WHERE x.article_id = e.article_id AND x.id <> e.id),
                (SELECT max(1 - (c.embedding <=> e.embedding)) FROM kb_chunks c
                  WHERE c.article_id = e.article_id)
            ) AS s
            FROM e
        )
        SELECT count(s) AS n, percentile_cont($1::float8) WITHIN GROUP (ORDER BY s) AS q
        FROM own
        """,
        quantile,
    )
    return int(row["n"]), None if row["q"] is None else float(row["q"])


async def answered_questions(
    conn: asyncpg.Connection, ticket_id: uuid.UUID
) -> list[asyncpg.Record]:
    """(message_id, body, article_id) for each customer message of the ticket that was
    answered with an article: by the agent, or by a human reply that cites one."""
    return await conn.fetch(
        """
        SELECT m.id AS message_id, m.body, (r.sources -> 0 ->> 'article_id')::uuid AS article_id
        FROM messages m JOIN agent_runs r ON r.message_id = m.id
        WHERE m.ticket_id = $1 AND r.decision = 'answer' AND jsonb_array_length(r.sources) > 0
        UNION
        SELECT q.id, q.body, (h.metadata ->> 'article_id')::uuid
        FROM messages h
        JOIN LATERAL (
            SELECT i.id, i.body FROM messages i
            WHERE i.ticket_id = h.ticket_id AND i.direction = 'inbound'
              AND i.created_at <= h.created_at
            ORDER BY i.created_at DESC LIMIT 1
        ) q ON true
        WHERE h.ticket_id = $1 AND h.author = 'human' AND h.metadata ? 'article_id'
        """,
        ticket_id,
    )


def _vectors(embeddings: npt.NDArray[np.float32]) -> list[Vector]:
    """A `vector[]` parameter: asyncpg would read nested lists as a 2-D array of floats."""
    return [Vector(row) for row in np.asarray(embeddings, dtype=np.float32)]


# Console editing: an article is written at once, its chunks by a `kb_embed` job.
_ARTICLE_COLUMNS = (
    "a.id, a.source_key, a.title, a.body, a.escalation_reason, a.embedding_status, "
    "a.embedding_error, a.content_hash, a.created_at, a.updated_at"
)


async def list_articles(
    conn: asyncpg.Connection, text: str | None, limit: int
) -> list[asyncpg.Record]:
    """Articles, best full-text match first when searching (title words count), else by title.
    Articles still waiting for their chunks are found by their title."""
    if not text:
        return await conn.fetch(
            f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles a ORDER BY lower(a.title) LIMIT $1",
            limit,
        )
    return await conn.fetch(
        f"""
        WITH q AS (SELECT websearch_to_tsquery('english', $1) AS tsq),
        hits AS (
            SELECT c.article_id, max(ts_rank(c.tsv, q.tsq, 32)) AS rank
            FROM kb_chunks c, q WHERE c.tsv @@ q.tsq GROUP BY c.article_id
        )
        SELECT {_ARTICLE_COLUMNS}, COALESCE(h.rank, 0) AS rank
        FROM kb_articles a LEFT JOIN hits h ON h.article_id = a.id
        WHERE h.article_id IS NOT NULL OR a.title ILIKE $3
        ORDER BY (a.title ILIKE $3) DESC, rank DESC, lower(a.title)
        LIMIT $2
        """,
        text,
        limit,
        "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
    )


async def get_article(conn: asyncpg.Connection, article_id: uuid.UUID) -> asyncpg.Record | None:
    """One article with its embedding state."""
    return await conn.fetchrow(
        f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles a WHERE a.id = $1", article_id
    )


async def write_article(
    conn: asyncpg.Connection,
    article_id: uuid.UUID | None,
    *,
    source_key: str,
    title: str,
    body: str,
    escalation_reason: str | None,
    content_hash: str,
) -> uuid.UUID | None:
    """Insert (article_id None) or update an article's text, marked pending; its old chunks
    keep serving the agent until the new ones replace them. None: no such article."""
    if article_id is None:
        created: uuid.UUID = await conn.fetchval(
            """
            INSERT INTO kb_articles (source_key, title, body, escalation_reason, content_hash,
                                     embedding_status)
            VALUES ($1, $2, $3, $4, $5, 'pending') RETURNING id
            """,
            source_key,
            title,
            body,
            escalation_reason,
            content_hash,
        )
        return created
    updated: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE kb_articles SET title = $2, body = $3, escalation_reason = $4, content_hash = $5,
                               embedding_status = 'pending', embedding_error = NULL,
                               updated_at = now()
        WHERE id = $1 RETURNING id
        """,
        article_id,
        title,
        body,
        escalation_reason,
        content_hash,
    )
    return updated


async def delete_article(conn: asyncpg.Connection, article_id: uuid.UUID) -> str | None:
    """Delete the article with its chunks and examples; its title, or None if there was none."""
    title: str | None = await conn.fetchval(
        "DELETE FROM kb_articles WHERE id = $1 RETURNING title", article_id
    )
    return title


async def replace_chunks(
    conn: asyncpg.Connection,
    article_id: uuid.UUID,
    content_hash: str,
    chunks: Sequence[tuple[str, Sequence[float]]],
) -> bool:
    """Store the article's new chunks and mark it done, if it still has this content (an
    edit made meanwhile has its own job); False when it changed or is gone."""
    current = await conn.fetchval(
        "SELECT content_hash FROM kb_articles WHERE id = $1 FOR UPDATE", article_id
    )
    if current != content_hash:
        return False
    await conn.execute("DELETE FROM kb_chunks WHERE article_id = $1", article_id)
    await conn.executemany(
        "INSERT INTO kb_chunks (article_id, ordinal, content, embedding) "
        "VALUES ($1, $2, $3, $4::vector)",
        [(article_id, i, text, vec) for i, (text, vec) in enumerate(chunks)],
    )
    await conn.execute(
        "UPDATE kb_articles SET embedding_status = 'done', embedding_error = NULL WHERE id = $1",
        article_id,
    )
    return True


async def mark_embedding_failed(
    conn: asyncpg.Connection, article_id: uuid.UUID, error: str
) -> None:
    """The job gave up: the page says so (the old chunks, if any, still serve)."""
    await conn.execute(
        "UPDATE kb_articles SET embedding_status = 'failed', embedding_error = $2 WHERE id = $1",
        article_id,
        error[:2000],
    )


async def vocabulary_stamp(conn: asyncpg.Connection) -> str:
    """Changes whenever an article or a past question is added, edited or removed."""
    return str(
        await conn.fetchval(
            """
            SELECT (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM kb_articles)
                   || '/' || (SELECT count(*) || ':' || coalesce(max(id), 0) FROM kb_examples)
            """
        )
    )


async def vocabulary_texts(conn: asyncpg.Connection) -> tuple[list[str], list[str]]:
    """What the knowledge base says: each article's title and body, and the past questions."""
    articles = await conn.fetch("SELECT title || E'\\n' || body AS t FROM kb_articles")
    questions = await conn.fetch("SELECT text AS t FROM kb_examples")
    return [r["t"] for r in articles], [r["t"] for r in questions]
