"""Sentence embeddings, offline from the model in a wheel: their own package because the agent,
the knowledge base, the sentiment analyzers, the worker and the doctor all need them, and none
of those should import another to get them."""

from fte.embeddings.model import (
    DIMENSIONS,
    MODEL_NAME,
    Embedder,
    EmbeddingProcess,
    TextEmbedder,
    default_processes,
    get_embedder,
    length_groups,
    limit_threads,
)

__all__ = [
    "DIMENSIONS",
    "MODEL_NAME",
    "Embedder",
    "EmbeddingProcess",
    "TextEmbedder",
    "default_processes",
    "get_embedder",
    "length_groups",
    "limit_threads",
]
