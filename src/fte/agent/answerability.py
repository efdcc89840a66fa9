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

import asyncio
import logging
import time

import asyncpg

from fte.knowledge import repository

log = logging.getLogger(__name__)

CALIBRATION_QUANTILE = 0.01
MIN_PAST_QUESTIONS = 200  # below this a 1% quantile is two questions: noise
# Questions scored at most: each is compared with its article's other questions, so the cost
# grows with the sample times the articles' size (2,311 bitext questions in 27 articles: 0.28 s;
# a sample of 1,000 took 0.10 s but put the bar at 0.566 instead of 0.588, and let one more
# out-of-scope question of the held-out part through).
SAMPLE = 3000
CEILING = 0.8  # however tight a history, a message this close to an article is answerable
REFRESH_SECONDS = 300.0


class Calibration:
    """The answer bar of one knowledge base, recomputed every REFRESH_SECONDS.

    Scoring the history takes a few hundred milliseconds (0.28 s for 2,311 questions): the
    first message computes it, later refreshes run beside the messages on a connection of
    their own when a pool is given, and messages use the last bar meanwhile.
    """

    def __init__(self, floor: float, pool: asyncpg.Pool | None = None) -> None:
        self.floor = floor
        self.pool = pool
        self._value = floor
        self._expires: float | None = None
        self._refresh: asyncio.Task[None] | None = None

    @property
    def current(self) -> float:
        """The bar as last computed (the floor before the first message)."""
        return self._value

    async def threshold(self, conn: asyncpg.Connection) -> float:
        """The bar a best article's confidence must clear for the agent to answer."""
        now = time.monotonic()
        if self._expires is None or (now >= self._expires and self.pool is None):
            self._value = await compute(conn, self.floor)
            self._expires = now + REFRESH_SECONDS
        elif now >= self._expires and self._refresh is None:
            self._expires = now + REFRESH_SECONDS
            self._refresh = asyncio.create_task(self._refresh_beside())
        return self._value

    async def _refresh_beside(self) -> None:
        assert self.pool is not None
        try:
            async with self.pool.acquire() as conn:
                self._value = await compute(conn, self.floor)
        except (asyncpg.PostgresError, OSError) as exc:  # keep the last bar; retry next time
            log.warning("answer bar not refreshed: %s", exc)
        finally:
            self._refresh = None


async def compute(conn: asyncpg.Connection, floor: float) -> float:
    """The floor, raised to the knowledge base's own past questions' low quantile."""
    n, low = await repository.past_question_confidence(conn, CALIBRATION_QUANTILE, SAMPLE)
    if n < MIN_PAST_QUESTIONS or low is None:
        return floor
    return max(floor, min(CEILING, low))
