"""The plain baseline the agent's retrieval must beat, measured in the same run.

all-MiniLM-L6-v2 nearest neighbour alone, as in the data sets' reference figures: each article
embedded once as "title + body" and each past question (history) once; a question's articles are
ranked by their nearest text's cosine. No chunking, no full text, no fusion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fte.embeddings import Embedder
from fte.evaluation.dataset import EvalRow, dataset_key
from fte.evaluation.scoring import RunOutcome, score
from fte.knowledge.schemas import KbSources


def nearest_neighbour(kb: KbSources, rows: Sequence[EvalRow], embedder: Embedder) -> dict[str, Any]:
    """Retrieval top-1 and MRR@10 of the plain baseline on the rows the agent is scored on."""
    if not kb.articles:
        return {"retrieval_top1": None, "mrr10": None}
    keys = [a.source_key for a in kb.articles]
    column = {key: j for j, key in enumerate(keys)}
    known = [e for e in kb.examples if e.article_key in column]
    texts = [f"{a.title}\n\n{a.body}" for a in kb.articles] + [e.text for e in known]
    owner = np.array(list(range(len(keys))) + [column[e.article_key] for e in known])
    # The embedder returns unit vectors: the dot product is the cosine.
    similarity = (
        np.asarray(embedder.embed([r.text for r in rows])) @ np.asarray(embedder.embed(texts)).T
    )
    best = np.full((len(rows), len(keys)), -np.inf, dtype=np.float32)
    for j in range(len(keys)):
        best[:, j] = similarity[:, owner == j].max(axis=1)
    order = np.argsort(-best, axis=1)[:, :10]
    outcomes = [
        RunOutcome("answer", None, [dataset_key(keys[j]) for j in ranked], None, 0.0)
        for ranked in order
    ]
    figures = score(rows, outcomes)
    return {"retrieval_top1": figures["retrieval_top1"], "mrr10": figures["mrr10"]}
