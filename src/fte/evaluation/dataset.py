"""Evaluation rows in the shared data format (see `fte eval` in docs/commands.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fte.channels.registry import REPLAY_CHANNEL
from fte.errors import FteError

# The data sets' reason names → the agent's.
GOLD_REASONS = {
    "contact_human_agent": "human_requested",
    "get_refund": "refund",
    "complaint": "complaint",
    "out_of_scope": "low_confidence",
}


def dataset_key(source_key: str) -> str:
    """The id a data set labels an article with: `kb.jsonl`'s id, or a Markdown file's name
    without its extension (a folder of .md as the knowledge base)."""
    if source_key.startswith("file:"):
        return source_key.removeprefix("file:").rsplit(".", 1)[0]
    return source_key.removeprefix("id:")


class DatasetError(FteError):
    """The split is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class EvalRow:
    """One customer message and its gold labels (None where the set does not label it)."""

    id: str
    text: str
    channel: str
    article: str | None  # the article id that answers it (or the topic of an escalation)
    has_article_label: bool
    escalate: bool | None
    reason: str | None  # in the agent's vocabulary
    sentiment: str | None
    # The heading of the article's section that answers it (sets written for Markdown KBs).
    section: str | None = None


def read_split(directory: Path, split: str) -> list[EvalRow]:
    """DIR/SPLIT.jsonl."""
    path = directory / f"{split}.jsonl"
    if not path.exists():
        raise DatasetError(f"{path}: no such file (--split {split} reads {split}.jsonl)")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                gold_reason = raw.get("reason")
                rows.append(
                    EvalRow(
                        id=str(raw["id"]),
                        text=str(raw["text"]),
                        channel=str(raw.get("channel") or REPLAY_CHANNEL),
                        article=raw.get("article"),
                        has_article_label="article" in raw,
                        escalate=raw.get("escalate"),
                        reason=GOLD_REASONS.get(gold_reason, gold_reason) if gold_reason else None,
                        sentiment=raw.get("sentiment"),
                        section=raw.get("section"),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DatasetError(f"{path}:{lineno}: expected id and text ({exc})") from exc
    if not rows:
        raise DatasetError(f"{path}: no rows")
    return rows
