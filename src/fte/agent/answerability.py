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

A message can sit close to an article in embedding space and still be about something the
knowledge base never mentions ("can I sell CloudSync as a reseller, what margins?" lands on
the plans article: same product, same register). So a second, word-level piece of evidence:
the share of the message's content words (stop-words aside, stemmed by `words.stem`, a
one-letter typo forgiven) that occur nowhere in the knowledge base, its articles or its
answered questions.
When at least half of what the customer wrote (two words or more) is vocabulary the knowledge
base never uses, it does not answer them, however close the nearest article looks. One rule,
no per-set tuning: "half" is the knowledge base's own vocabulary speaking, and it keeps the
bitext and stackfaq questions (typos, city names, paraphrases) answered ("more than half" let
"Can CloudSync back up my Synology NAS automatically?" through: two of four words unknown;
no bitext or stackfaq question changed either way).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence

import asyncpg

from fte.agent import close_calls
from fte.agent.retrieval import Source
from fte.agent.words import STOP_WORDS, content_words
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
STAMP_SECONDS = 1.0  # an edited article's words count within a second, at one query a second
# At least this share of a message's content words unknown to the knowledge base: not its
# subject (see the module doc).
UNKNOWN_SHARE = 0.5
COMMON_SHARE = 0.5
# One unknown word is as often a name, a typo or a feeling ("fed up") as a subject of its own.
MIN_UNKNOWN_WORDS = 2
MIN_TYPO_LENGTH = 5  # shorter words have too many one-letter neighbours to forgive a typo


# Who is writing and which record they quote are not what they write about: an email address,
# a link, an order or reference number ("ref bus-12", "INV-2024-001"), a self-introduction
# ("this is Priya from Acme Ltd", "I'm Tom at Northwind") and a signature ("Thanks, Priya") name
# people, companies and records the knowledge base has no reason to know. Names elsewhere
# ("connect it to Slack") stay: they are often the very subject a knowledge base lacks.
_NOT_SUBJECT = re.compile(r"\S+@\S+|(?:https?://|www\.)\S+")  # an email address, a link
_TOKEN = re.compile(r"#?\w+(?:[-_/.:#]\w+)*")
_NAME = r"[A-Z][\w'&.-]*(?:[ \t]+[A-Z][\w'&.-]*){0,3}"
# A name introduced at the start of a sentence and ended there ("Hi, this is Priya. ...", "I'm
# Tom from Northwind, ..."): "this is Dropbox related" is no introduction. After "my name is"
# a capitalised word is always a name.
_INTRODUCTION = re.compile(
    rf"\b(?i:my name is|my name's)\s+{_NAME}"
    rf"(?:\s*,?\s*(?i:from|at|with|of)\s+(?i:the\s+)?{_NAME})?"
    r"|(?:^|(?<=[.!?,;:\n]))\s*(?:(?i:hi|hello|hey|good morning|good afternoon)[ ,!]*)?"
    rf"(?i:this is|i am|i'm|im)\s+{_NAME}"
    rf"(?:\s*,?\s*(?i:from|at|with|of)\s+(?i:the\s+)?{_NAME}|\s+(?i:here))?"
    r"(?=\s*(?:[.!?,;:\n]|$))"
)
_SIGN_OFF = re.compile(
    r"(?:^|\n|[.!?]\s+)(?i:(?:many\s+|best\s+|kind\s+|warm\s+)?"
    rf"(?:thanks|thank you|regards|cheers|best|sincerely)\b[,.!]?\s*)?(?:--?\s*)?{_NAME}\s*$"
)


def _reference(token: str) -> bool:
    """An order, invoice or ticket number: a digit joined to other parts (bus-12, INV-2024-001,
    #1234) or three digits in one word (A1234567); "2FA" or "Windows10" are words."""
    digits = sum(c.isdigit() for c in token)
    return digits > 0 and (token.startswith("#") or digits >= 3 or any(c in "-_/.:" for c in token))


def subject_text(text: str) -> str:
    """`text` without what names who is writing or which record they mean (addresses, links,
    reference numbers, a self-introduction, a signature): what is left says what it is about."""
    text = _NOT_SUBJECT.sub(" ", text)
    text = _TOKEN.sub(lambda m: " " if _reference(m.group(0)) else m.group(0), text)
    text = _INTRODUCTION.sub(" ", text)
    return _SIGN_OFF.sub(" ", text.rstrip())


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _transpositions(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


class Vocabulary:
    """The content words a knowledge base uses, with a one-letter typo forgiven (a letter
    missing, added, changed or two swapped: the symmetric-deletion trick, no scan). Words in
    more than half of its articles (the product's name, "account", "file") are its register,
    not a subject: they are not counted either way."""

    def __init__(self, articles: Sequence[str], questions: Iterable[str] = ()) -> None:
        per_article = [content_words(text) for text in articles]
        used = Counter(w for words in per_article for w in words)
        self.common = {w for w, n in used.items() if n > COMMON_SHARE * len(per_article)}
        self.words: set[str] = set(used)
        for text in questions:
            self.words |= content_words(text)
        self._deleted = {
            d for w in self.words if len(w) >= MIN_TYPO_LENGTH - 1 for d in _deletions(w)
        }

    def knows(self, word: str) -> bool:
        """`word` (a stem), or a one-letter typo of one, occurs in the knowledge base."""
        if word in self.words:
            return True
        if len(word) < MIN_TYPO_LENGTH:
            return False
        return (
            word in self._deleted  # a letter missing
            or not _deletions(word).isdisjoint(self.words)  # a letter added
            or not _deletions(word).isdisjoint(self._deleted)  # a letter changed
            or not _transpositions(word).isdisjoint(self.words)
        )

    def unknown(self, text: str) -> tuple[int, int]:
        """(how many of `text`'s content words the knowledge base never uses, out of how many)."""
        words = content_words(subject_text(text)) - self.common
        if not self.words:
            return 0, len(words)
        return sum(1 for w in words if not self.knows(w)), len(words)

    def unknown_share(self, text: str) -> float:
        """The share of `text`'s content words the knowledge base never uses (0: none)."""
        unknown, words = self.unknown(text)
        return unknown / words if words else 0.0

    def off_subject(self, text: str) -> bool:
        """At least half of what `text` is about (two words or more) is vocabulary the knowledge
        base never uses."""
        unknown, words = self.unknown(text)
        return unknown >= MIN_UNKNOWN_WORDS and unknown >= UNKNOWN_SHARE * words


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
        self._vocabulary = Vocabulary([])
        self._lexical = close_calls.LexicalIndex([], STOP_WORDS)
        self._stamp: str | None = None
        self._stamp_checked = -STAMP_SECONDS

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

    async def vocabulary(self, conn: asyncpg.Connection) -> Vocabulary:
        """The knowledge base's vocabulary, rebuilt when an article or past question changed
        (checked with one cheap query at most every STAMP_SECONDS; the rebuild reads the
        texts)."""
        now = time.monotonic()
        if now < self._stamp_checked + STAMP_SECONDS:
            return self._vocabulary
        stamp = await repository.vocabulary_stamp(conn)
        if stamp != self._stamp:
            articles, questions = await repository.vocabulary_texts(conn)
            self._vocabulary = Vocabulary(articles, questions)
            self._lexical = close_calls.LexicalIndex(articles, STOP_WORDS)
            self._stamp = stamp
        self._stamp_checked = now
        return self._vocabulary

    async def warm(self, pool: asyncpg.Pool) -> None:
        """Compute the bar and the vocabulary now, so the first message does not wait."""
        async with pool.acquire() as conn:
            await self.threshold(conn)
            await self.vocabulary(conn)

    async def lexical(self, conn: asyncpg.Connection) -> close_calls.LexicalIndex:
        """The knowledge base's word statistics for settling close calls, rebuilt with the
        vocabulary."""
        await self.vocabulary(conn)
        return self._lexical

    async def settle(
        self, conn: asyncpg.Connection, text: str, sources: list[Source]
    ) -> list[Source]:
        """`sources` with a close call between the best two settled by their words
        (`close_calls.settle`)."""
        if len(sources) < 2:
            return sources
        return close_calls.settle(sources, text, await self.lexical(conn))

    async def answers(
        self,
        conn: asyncpg.Connection,
        text: str,
        confidence: float | None,
        runner_up: float | None = None,
    ) -> bool:
        """The knowledge base answers `text` with an article this close (None: no article),
        the next best article `runner_up` close: over the bar, or just under it with one
        article clearly ahead in the knowledge base's own words (`close_calls.clears`); and
        not mostly about things the knowledge base never mentions."""
        if confidence is None:
            return False
        vocabulary = await self.vocabulary(conn)
        if vocabulary.off_subject(text):
            return False
        unknown, _ = vocabulary.unknown(text)
        return close_calls.clears(confidence, await self.threshold(conn), runner_up, unknown)

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
