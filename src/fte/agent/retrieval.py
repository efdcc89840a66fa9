"""Find the articles that answer a message: hybrid evidence, fused per article.

Evidence comes from pgvector (the article's title and chunks, and past questions it answered)
and PostgreSQL full-text search. Articles are *ranked* by a soft vote over that evidence, and
*trusted* by their confidence: the best cosine similarity between the message and anything of
the article's. Cosine is absolute, so one threshold means the same on every query; the vote is
relative, and only orders the candidates.

Why a soft vote: with past questions, an article backed by several close examples should beat
one that has a single lucky near-match. On the bitext dev split this lifts top-1 from 0.969
(nearest neighbour) to 0.984; where there are no examples it reduces to the best match.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import numpy as np
import numpy.typing as npt

from fte.knowledge import repository

VOTE_TEMPERATURE = 0.05  # cosine units; tuned on the dev splits (0.03-0.08 is flat)
VECTOR_CANDIDATES = 40
TEXT_CANDIDATES = 20


@dataclass(frozen=True)
class Source:
    """An article and how well it matches the message."""

    article_id: uuid.UUID
    title: str
    body: str
    score: float  # confidence: best cosine of the message to the article's title/chunks/examples
    escalation_reason: str | None = None
    rank_score: float = 0.0  # the fused vote the ranking used
    # The article's chunk nearest to the message (its title alone aside): the part that answers.
    passage: str | None = None

    def as_json(self) -> dict[str, object]:
        """What the agent run stores, so a human can see why."""
        return {
            "article_id": str(self.article_id),
            "title": self.title,
            "score": round(self.score, 4),
            "rank_score": round(self.rank_score, 4),
            **({"escalation_reason": self.escalation_reason} if self.escalation_reason else {}),
        }


Evidence = tuple[uuid.UUID, str, float]  # (article_id, kind: chunk | example | text, score)


def fuse(rows: Sequence[Evidence], text_weight: float) -> dict[uuid.UUID, float]:
    """article_id → vote. One vector item per article for its chunks (their best), one per
    past question; full-text rank adds a bounded bonus."""
    chunk_best: dict[uuid.UUID, float] = {}
    examples: list[tuple[uuid.UUID, float]] = []
    text: dict[uuid.UUID, float] = defaultdict(float)
    for article, kind, score in rows:
        if kind == "chunk":
            chunk_best[article] = max(score, chunk_best.get(article, -1.0))
        elif kind == "example":
            examples.append((article, score))
        else:
            text[article] = max(text[article], score)
    items = list(chunk_best.items()) + examples
    if not items and not text:
        return {}
    top = max((s for _, s in items), default=0.0)
    votes: dict[uuid.UUID, float] = defaultdict(float)
    for article, score in items:
        votes[article] += math.exp((score - top) / VOTE_TEMPERATURE)
    text_top = max(text.values(), default=0.0)
    for article, rank in text.items():
        votes[article] += text_weight * (rank / text_top if text_top else 0.0)
    return dict(votes)


async def retrieve(
    conn: asyncpg.Connection,
    query_vectors: Sequence[Sequence[float]] | npt.NDArray[np.float32],
    query_texts: Sequence[str],
    top_k: int,
    text_weight: float,
) -> list[list[Source]]:
    """For each query of a batch (its vector and its text), articles best first, each with its
    confidence: two round trips for the whole batch."""
    vectors = np.asarray(query_vectors, dtype=np.float32)
    rows = await repository.search_evidence(
        conn, vectors, query_texts, VECTOR_CANDIDATES, TEXT_CANDIDATES
    )
    evidence: list[list[Evidence]] = [[] for _ in query_texts]
    for r in rows:
        evidence[r["query"] - 1].append((r["article_id"], r["kind"], float(r["score"])))
    votes = [fuse(found, text_weight) for found in evidence]
    ranked = [sorted(v, key=v.__getitem__, reverse=True)[:top_k] for v in votes]
    wanted = [(i, a) for i, articles in enumerate(ranked, start=1) for a in articles]
    details = {
        (r["query"], r["id"]): r
        for r in await repository.articles_with_confidence(conn, wanted, vectors)
    }
    return [
        [
            Source(
                article_id=a,
                title=details[i, a]["title"],
                body=details[i, a]["body"],
                score=float(details[i, a]["confidence"] or 0.0),
                escalation_reason=details[i, a]["escalation_reason"],
                rank_score=votes[i - 1][a],
                passage=details[i, a]["passage"],
            )
            for a in ranked[i - 1]
            if (i, a) in details
        ]
        for i in range(1, len(query_texts) + 1)
    ]
