"""Knowledge gaps: the questions the agent escalated for low confidence, grouped by meaning,
so the team sees which articles to write first.

Each escalation stores the question's embedding (the agent's own, agent_runs.query_embedding).
Grouping is agglomerative with average linkage over cosine distance, cut at GAP_SIMILARITY:
a group's questions are, on average, at least that similar to each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from fte.console import queries

GAP_SIMILARITY: Final = 0.6  # all-MiniLM-L6-v2 cosine: paraphrases ≳ 0.6, other topics ≲ 0.4
MAX_QUESTIONS: Final = 500  # the newest ones; grouping is quadratic in their number
TOP_GROUPS: Final = 10


@dataclass(frozen=True)
class Gap:
    """A group of similar unanswered questions: its size, the most typical one, the newest."""

    count: int
    sample: str
    ticket_number: int
    last_asked: datetime


def group(vectors: np.ndarray, similarity: float = GAP_SIMILARITY) -> list[int]:
    """A group label per row (rows are L2-normalised embeddings)."""
    if len(vectors) == 0:
        return []
    if len(vectors) == 1:
        return [1]
    tree = linkage(vectors, method="average", metric="cosine")
    return [int(label) for label in fcluster(tree, t=1 - similarity, criterion="distance")]


async def knowledge_gaps(
    conn: asyncpg.Connection, since: datetime, top: int = TOP_GROUPS
) -> tuple[list[Gap], int]:
    """The biggest groups first (ties: the most recent), and how many questions there were."""
    rows = await queries.low_confidence_questions(conn, since, MAX_QUESTIONS)
    if not rows:
        return [], 0
    vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
    labels = group(vectors)
    gaps = []
    for label in set(labels):
        members = [i for i, lab in enumerate(labels) if lab == label]
        centroid = vectors[members].mean(axis=0)
        typical = max(members, key=lambda i: float(vectors[i] @ centroid))
        gaps.append(
            Gap(
                count=len(members),
                sample=rows[typical]["body"],
                ticket_number=rows[typical]["number"],
                last_asked=max(rows[i]["created_at"] for i in members),
            )
        )
    gaps.sort(key=lambda g: (g.count, g.last_asked), reverse=True)
    return gaps[:top], len(rows)
