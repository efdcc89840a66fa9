"""Editing articles from the console: the text is saved at once, the embeddings follow.

Saving writes the article (marked `pending`), a `kb_embed` job on the PostgreSQL queue and an
audit row in one transaction. A worker chunks and embeds it with the importer's own chunker
(`service.chunk_article`), stores the chunks and marks it `done`. Until then the agent keeps
answering from the previous chunks, so an edit never leaves a hole in the knowledge base.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from fte.auth.repository import audit
from fte.bus import outbox, topics
from fte.embeddings import TextEmbedder
from fte.errors import FteError, NotFound
from fte.knowledge import repository
from fte.knowledge.schemas import ArticleDoc
from fte.knowledge.service import chunk_article, content_hash
from fte.tickets.reasons import TOPIC_REASONS

MAX_TITLE: Final = 300
MAX_BODY: Final = 100_000


class InvalidArticle(FteError):
    """A field of the article form is wrong; `detail` names it."""

    status_code = 422


@dataclass(frozen=True)
class ArticleForm:
    """What a person typed; `validated()` trims it and names the first wrong field."""

    title: str
    body: str
    escalation_reason: str | None = None

    def validated(self) -> ArticleForm:
        title, body = self.title.strip(), self.body.strip()
        reason = (self.escalation_reason or "").strip() or None
        if not title or len(title) > MAX_TITLE:
            raise InvalidArticle(f"title: 1 to {MAX_TITLE} characters", detail={"field": "title"})
        if not body or len(body) > MAX_BODY:
            raise InvalidArticle(f"body: 1 to {MAX_BODY} characters", detail={"field": "body"})
        if reason is not None and reason not in TOPIC_REASONS:
            raise InvalidArticle(
                f"escalation_reason: one of {', '.join(TOPIC_REASONS)} or empty",
                detail={"field": "escalation_reason"},
            )
        return ArticleForm(title, body, reason)


async def save_article(
    conn: asyncpg.Connection, actor: str, article_id: uuid.UUID | None, form: ArticleForm
) -> uuid.UUID:
    """Create (article_id None) or update an article and queue its re-embedding."""
    form = form.validated()
    if article_id is None:
        source_key = f"console:{uuid.uuid4()}"
    else:
        existing = await repository.get_article(conn, article_id)
        if existing is None:
            raise NotFound("article not found")
        source_key = existing["source_key"]
    digest = content_hash(ArticleDoc(source_key, form.title, form.body, form.escalation_reason))
    saved = await repository.write_article(
        conn,
        article_id,
        source_key=source_key,
        title=form.title,
        body=form.body,
        escalation_reason=form.escalation_reason,
        content_hash=digest,
    )
    if saved is None:
        raise NotFound("article not found")
    await outbox.enqueue(
        conn, topics.KB_EMBED, f"kb:{saved}", {"article_id": str(saved), "content_hash": digest}
    )
    await audit(
        conn,
        actor,
        "kb.create" if article_id is None else "kb.update",
        detail={"article_id": str(saved), "title": form.title},
    )
    return saved


async def delete_article(conn: asyncpg.Connection, actor: str, article_id: uuid.UUID) -> None:
    """Delete the article (chunks and examples with it); a job still queued finds it gone."""
    title = await repository.delete_article(conn, article_id)
    if title is None:
        raise NotFound("article not found")
    await audit(conn, actor, "kb.delete", detail={"article_id": str(article_id), "title": title})


async def embed_article(
    conn: asyncpg.Connection, article_id: uuid.UUID, digest: str, embedder: TextEmbedder
) -> bool:
    """The `kb_embed` job: chunk, embed and store the article as it was saved; False when it
    has changed since (its newer job does the work) or was deleted."""
    article = await repository.get_article(conn, article_id)
    if article is None or article["content_hash"] != digest:
        return False
    chunks = chunk_article(article["title"], article["body"])
    vectors = await asyncio.to_thread(embedder.embed, chunks)
    return await repository.replace_chunks(
        conn, article_id, digest, list(zip(chunks, vectors, strict=True))
    )
