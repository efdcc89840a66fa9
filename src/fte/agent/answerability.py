"""When the knowledge base answers a message: a confidence bar calibrated per knowledge base.

Confidence (the best cosine between the message and anything of the article's) is absolute,
but where answered questions sit on it depends on the knowledge base: its articles' wording,
how alike its topics are, the model. One global threshold tuned until a data set looked right
lets unanswerable questions through on a knowledge base whose own questions sit far above it.

So the knowledge base calibrates itself from its own answered questions (imported history,
and questions learnt from resolved tickets): each one, left out, is scored against its own
article as retrieval would score it; the bar is where the lowest CALIBRATION_QUANTILE of them
fall — 99% of the questions it has answered would clear it. FTE_ANSWER_THRESHOLD stays the
floor (and the whole rule while there are fewer than MIN_PAST_QUESTIONS): a well-separated
knowledge base raises the bar for itself, it never lowers it. Nothing is fitted to any
evaluation split.
"""

from __future__ import annotations

import time

import asyncpg

from fte.knowledge import repository

CALIBRATION_QUANTILE = 0.01
MIN_PAST_QUESTIONS = 200  # below this a 1% quantile is two questions: noise
SAMPLE = 3000  # questions scored at most (a few hundred ms in PostgreSQL)
CEILING = 0.8  # however tight a history, a message this close to an article is answerable
REFRESH_SECONDS = 300.0


class Calibration:
    """The answer bar of one knowledge base, recomputed every REFRESH_SECONDS."""

    def __init__(self, floor: float) -> None:
        self.floor = floor
        self._value = floor
        self._expires = 0.0

    @property
    def current(self) -> float:
        """The bar as last computed (the floor before the first message)."""
        return self._value

    async def threshold(self, conn: asyncpg.Connection) -> float:
        """The bar a best article's confidence must clear for the agent to answer."""
        now = time.monotonic()
        if now >= self._expires:
            self._value = await compute(conn, self.floor)
            self._expires = now + REFRESH_SECONDS
        return self._value


async def compute(conn: asyncpg.Connection, floor: float) -> float:
    """The floor, raised to the knowledge base's own past questions' low quantile."""
    n, low = await repository.past_question_confidence(conn, CALIBRATION_QUANTILE, SAMPLE)
    if n < MIN_PAST_QUESTIONS or low is None:
        return floor
    return max(floor, min(CEILING, low))
