"""The words a message or an article is about: one stemmer and one content-word tokeniser for
the word-level rules (the off-subject `Vocabulary` in `answerability`, the BM25 `LexicalIndex`
in `close_calls`, the section choice in `passages`), so all of them read "syncing", "syncs"
and "synced" as one word.

The stem is the Snowball English (Porter2) stemmer from `snowballstemmer`: a kept, published
algorithm rather than suffix rules of our own, of which there were three that had drifted
apart ("files" was "fil" to the vocabulary and "file" to the close calls).
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

import snowballstemmer

# Function words, the small talk of support messages and when it happened: they say nothing
# about the subject.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself me more most my myself no nor not of off on once only or other ought our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why with would you your yours yourself yourselves
    hi hello hey dear thanks thank please pls plz ok okay yes yeah just also still really now
    get got getting gets want wants wanted need needs needed like will shall may might must
    know tell help way ways thing things something anything everything someone anyone
    everyone im ive dont cant wont didnt doesnt isnt whats hows thats theres youre id ill
    since ago yesterday today tomorrow morning afternoon evening tonight week weeks month
    months year years day days hour hours minute minutes time times last first again always
    never ever every soon already
    """.split()  # noqa: SIM905  (a word list reads better as text)
)

_CONTENT_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_TERM = re.compile(r"[a-z0-9]+")

# A Snowball stemmer keeps its cursor on the instance: one word at a time, whichever thread asks.
_STEMMER = snowballstemmer.stemmer("english")
_LOCK = threading.Lock()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter2 stem of a lower-case word ("syncing", "syncs", "synced" → "sync"; "stopped"
    → "stop"). A support text repeats its few hundred words, so the answers are kept."""
    with _LOCK:
        return str(_STEMMER.stemWord(word))


def content_words(text: str) -> set[str]:
    """The stems of the words that carry the subject: no stop-words, numbers or 1-2 letters."""
    found = set()
    for word in _CONTENT_WORD.findall(text.lower()):
        word = word.split("'", 1)[0]
        if len(word) > 2 and word not in STOP_WORDS and not word.isdigit():
            found.add(stem(word))
    return found


def terms(text: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """The stems of `text`'s words of three letters or more, stop-words aside, in order (BM25
    counts repeats, so this keeps them)."""
    return [stem(w) for w in _TERM.findall(text.lower()) if len(w) > 2 and w not in stop_words]
