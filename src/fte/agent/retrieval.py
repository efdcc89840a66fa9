"""Find the knowledge-base articles that answer a message (pgvector cosine over chunks)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from fte.knowledge import repository


@dataclass(frozen=True)
class Source:
    """An article and how well it matches (cosine similarity of its best chunk, 0..1)."""

    article_id: uuid.UUID
    title: str
    body: str
    score: float

    def as_json(self) -> dict[str, object]:
        """What the agent run stores, so a human can see why."""
        return {
            "article_id": str(self.article_id),
            "title": self.title,
            "score": round(self.score, 4),
        }


async def retrieve(
    conn: asyncpg.Connection, query_vector: Sequence[float], top_k: int
) -> list[Source]:
    """Articles ranked by their best chunk's similarity, best first."""
    rows = await repository.nearest_chunks(conn, query_vector, limit=top_k * 3)
    best: dict[uuid.UUID, Source] = {}
    for row in rows:
        if row["article_id"] not in best:  # rows arrive best first
            best[row["article_id"]] = Source(
                article_id=row["article_id"],
                title=row["title"],
                body=row["body"],
                score=float(row["score"]),
            )
    return list(best.values())[:top_k]
