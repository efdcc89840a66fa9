"""The sentiment analyzer a worker uses: reloaded as soon as a newer trained model is stored."""

from __future__ import annotations

import asyncio

import asyncpg

from fte.agent import repository as runs
from fte.agent.sentiment import SentimentAnalyzer, load_analyzer
from fte.db import transaction
from fte.embeddings import TextEmbedder


class SentimentSource:
    """Caches the analyzer; one cheap query per batch tells whether `fte sentiment train`
    stored a newer model, which is then used from the next message on."""

    def __init__(self, embedder: TextEmbedder):
        self._embedder = embedder
        self._analyzer: SentimentAnalyzer | None = None
        self._model_id: int | None = None
        self._lock = asyncio.Lock()

    async def current(self, pool: asyncpg.Pool) -> SentimentAnalyzer:
        """The analyzer for the newest stored model (or the default when there is none)."""
        async with self._lock, transaction(pool) as conn:
            newest = await runs.latest_sentiment_model_id(conn)
            if self._analyzer is None or newest != self._model_id:
                self._analyzer = await load_analyzer(conn, self._embedder)
                self._model_id = newest
            return self._analyzer
