"""The part of an article that answers a message: its section, not the whole article.

Retrieval finds the article's chunk nearest to the message (`Source.passage`); chunks never
span two sections (`knowledge.service.chunk_article`), so that chunk names the section. A reply
leads with that section, whole (steps stay intact), and says where the rest is. When the
nearest chunk is the article's introduction, the question is about the whole topic, and the
whole article is the answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fte.agent.retrieval import Source
from fte.agent.words import stem
from fte.knowledge.service import sections

# "see ... at the end of this article", "(see below)", "as described above": pointers to parts
# of the article a focused reply does not carry.
_CROSS_REFERENCE = re.compile(
    r"\b(?:see|described|explained|covered|listed)\b[^.!?]*?"
    r"\b(?:below|above|later|earlier|(?:at )?the (?:end|top|bottom|start) of this "
    r"(?:article|page)|in (?:the|this) (?:next|previous|following) section|this article)\b",
    re.IGNORECASE,
)
# What being in the message's nearest chunk is worth against shared words (one rare word in
# a heading scores about 3-4). Chosen on the demo set: 0.5 / 1.5 / 3.0 → 7 / 6 / 7 of 58
# replies led with the wrong section of the right article.
HELD_BONUS = 1.5
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


@dataclass(frozen=True)
class Passage:
    """What a reply is written from: Markdown text, and the section heading when it is one
    section of a longer article (None: the whole article)."""

    text: str
    heading: str | None
    other_headings: tuple[str, ...] = ()


def drop_cross_references(text: str) -> str:
    """The text without sentences that send the reader to another part of the article."""
    lines = []
    for line in text.splitlines():
        sentences = _SENTENCE.split(line)
        kept = [s for s in sentences if not _CROSS_REFERENCE.search(s)]
        if kept or not line.strip():
            lines.append(" ".join(kept) if len(kept) != len(sentences) else line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "you",
        "your",
        "our",
        "with",
        "can",
        "how",
        "what",
        "when",
        "why",
        "does",
        "not",
        "but",
        "are",
        "was",
        "have",
        "this",
        "that",
        "from",
        "they",
        "them",
        "into",
        "out",
        "get",
        "got",
        "any",
        "all",
        "its",
        "it's",
        "i'm",
        "i've",
        "don't",
        "doesn't",
    ]
)


def _stems(text: str) -> set[str]:
    # The agent's one stemmer; the stop list stays this module's own, the one the section
    # choice was measured with (docs/evaluation.md).
    return {stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in _STOP}


def _candidates(passage: str, found: list[tuple[str | None, list[str]]]) -> list[str | None]:
    """The sections a chunk holds: the one its first paragraph belongs to, then every heading
    in it. A chunk is "title, then paragraphs" (`chunk_article`)."""
    _, _, text = passage.partition("\n\n")
    first = text.split("\n\n", 1)[0].strip()
    held: list[str | None] = []
    if not first.startswith("#"):
        held += [h for h, ps in found if first in ps][:1]
    held += [m.group(1).strip() for m in re.finditer(r"^#{2,6}[ \t]+(\S.*)$", text, re.M)]
    return held


def select(source: Source, message: str = "") -> Passage:
    """The section of `source` that answers, or the whole article (see the module doc)."""
    found = sections(source.title, source.body)
    headings = [h for h, _ in found if h]
    if len(headings) < 2:
        return _whole(found)
    held = {h for h in _candidates(source.passage or "", found) if h in headings}
    asked = _stems(message)
    # Words of the title are the whole article's: they barely tell its sections apart.
    topical = _stems(source.title)
    # The nearest chunk narrows it to a section or three (or to the introduction, which
    # matches any question on the topic); the words the message shares with each section
    # decide: in its heading above all, and weighted by how few of the article's sections use
    # them ("reset" is everywhere in the password article, "email" is not). Ties go to the
    # nearest chunk's sections, then to the first.
    words = {h: (_stems(h or ""), _stems("\n".join(ps))) for h, ps in found}
    rarity = {
        w: math.log((len(found) + 1) / sum(1 for t, b in words.values() if w in t or w in b))
        for w in asked
        if any(w in t or w in b for t, b in words.values())
    }
    scores = {
        h: sum(
            rarity[w] * (3 if w in words[h][0] else 1) * (0.25 if w in topical else 1)
            for w in asked & (words[h][0] | words[h][1])
        )
        for h in headings
    }
    best = max(
        headings, key=lambda h: (scores[h] + (HELD_BONUS if h in held else 0), -headings.index(h))
    )
    if scores[best] == 0:
        return _whole(found)
    paragraphs = next(ps for h, ps in found if h == best)
    return Passage(
        drop_cross_references("\n\n".join(paragraphs)),
        best,
        tuple(h for h in headings if h != best),
    )


def _whole(found: list[tuple[str | None, list[str]]]) -> Passage:
    body = "\n\n".join(
        (f"## {h}\n\n" if h else "") + "\n\n".join(paragraphs) for h, paragraphs in found
    )
    return Passage(drop_cross_references(body), None)
