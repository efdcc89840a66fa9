"""Looking behind the figures: the worst misses, a held-out part of the split, focused replies.

Pure functions over the records `evaluate` returns, so they are cheap to test.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from fte.agent.formatting import markdown_to_text
from fte.evaluation.dataset import dataset_key
from fte.evaluation.runner import EvalRecord
from fte.evaluation.scoring import score
from fte.knowledge.schemas import KbSources

# A reply may carry a greeting, the article's name and a sign-off around the answer.
ENVELOPE_CHARS = 250
FOCUS_RATIO = 1.5


def expected(record: EvalRecord) -> str:
    """What the row's gold labels ask for: an escalation reason, or `answer`."""
    row = record.row
    if row.escalate:
        return row.reason or "escalate"
    return "answer"


def missed(record: EvalRecord) -> bool:
    """The agent did not do what the gold labels ask (action, reason or article)."""
    row, out = record.row, record.outcome
    if row.escalate is None:
        return bool(row.article) and out.ranked_articles[:1] != [row.article]
    if row.escalate:
        return out.decision != "escalate" or (row.reason is not None and out.reason != row.reason)
    return out.decision == "escalate" or out.ranked_articles[:1] != [row.article]


def _severity(record: EvalRecord) -> float:
    # A wrong answer is worse the surer retrieval was; a wrong hand-over, the further it was
    # from answering: both rank the misses a threshold would not fix first.
    if record.outcome.decision == "escalate":
        return 1.0 - record.confidence
    return record.confidence


def worst_misses(records: Sequence[EvalRecord], n: int) -> dict[str, list[dict[str, Any]]]:
    """Per expected outcome, the `n` misses the agent was surest about."""
    by_reason: dict[str, list[EvalRecord]] = defaultdict(list)
    for record in records:
        if missed(record):
            by_reason[expected(record)].append(record)
    return {
        reason: [
            {
                "id": r.row.id,
                "text": r.row.text,
                "expected": reason if reason != "answer" else f"answer with {r.row.article}",
                "got": (
                    f"escalate ({r.outcome.reason})"
                    if r.outcome.decision == "escalate"
                    else f"{r.outcome.decision} with {(r.outcome.ranked_articles or ['-'])[0]}"
                ),
                "sources": [
                    {"article": key, "title": title, "score": round(score_, 3)}
                    for key, title, score_ in r.sources[:3]
                ],
            }
            for r in sorted(rows, key=_severity, reverse=True)[:n]
        ]
        for reason, rows in sorted(by_reason.items())
    }


def in_holdout(row_id: str, fraction: float, seed: int = 0) -> bool:
    """A stable pseudo-random part of a split, by the row's id: the same rows on every run
    with the same `seed` (0: the part every earlier figure was measured on)."""
    salt = "holdout" if seed == 0 else f"holdout{seed}"
    digest = hashlib.sha256(f"{salt}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def holdout_figures(
    records: Sequence[EvalRecord], fraction: float, seed: int = 0
) -> dict[str, Any]:
    """The figures on the part used for tuning and on the part held out from it."""
    parts: dict[str, list[EvalRecord]] = {"tune": [], "holdout": []}
    for record in records:
        held = in_holdout(record.row.id, fraction, seed)
        parts["holdout" if held else "tune"].append(record)
    return {
        name: score([r.row for r in part], [r.outcome for r in part]) if part else None
        for name, part in parts.items()
    }


def _sections(body: str) -> dict[str, str]:
    sections: dict[str, str] = {}
    heading = None
    lines: list[str] = []
    for line in body.splitlines():
        match = re.match(r"^#{2,6}\s+(.*)", line)
        if match:
            if heading is not None:
                sections[heading] = "\n".join(lines).strip()
            heading, lines = match.group(1).strip(), []
        elif heading is not None:
            lines.append(line)
    if heading is not None:
        sections[heading] = "\n".join(lines).strip()
    return sections


def focus_figures(records: Sequence[EvalRecord], kb: KbSources) -> dict[str, Any] | None:
    """For rows labelled with the answering `section`: how often the reply had the right facts
    (the right article, and the section's first line verbatim) and how often it was focused
    (at most FOCUS_RATIO × the section's length, plus ENVELOPE_CHARS for greeting and
    sign-off). None when no row carries a section label."""
    bodies = {dataset_key(a.source_key): a.body for a in kb.articles}
    labelled = [r for r in records if r.row.section and r.row.article in bodies]
    if not labelled:
        return None
    right = focused = 0
    ratios = []
    for record in labelled:
        section = _sections(bodies[record.row.article or ""]).get(record.row.section or "")
        if section is None:
            continue
        text = markdown_to_text(section)
        reply = record.reply or ""
        answered = record.outcome.decision == "answer" and record.outcome.ranked_articles[:1] == [
            record.row.article
        ]
        first_line = text.splitlines()[0].strip()
        if answered and first_line in reply:
            right += 1
            ratio = max(0, len(reply) - ENVELOPE_CHARS) / max(1, len(text))
            ratios.append(ratio)
            focused += ratio <= FOCUS_RATIO
    ratios.sort()
    return {
        "labelled": len(labelled),
        "right_facts": round(right / len(labelled), 4),
        "focused": round(focused / len(labelled), 4),
        "median_length_ratio": round(ratios[len(ratios) // 2], 2) if ratios else None,
    }


def handover_figures(records: Sequence[EvalRecord]) -> dict[str, Any] | None:
    """For rows that must reach a person: how many did (`handed_over`), how many of those
    with the labelled reason (`right_reason`), and how many of the questions the knowledge base
    does not cover were handed over for any reason (`out_of_scope_handed_over`). None when no
    row is labelled as a hand-over."""
    gold = [r for r in records if r.row.escalate and r.row.reason]
    if not gold:
        return None
    handed = [r for r in gold if r.outcome.decision == "escalate"]
    right = [r for r in handed if r.outcome.reason == r.row.reason]
    oos = [r for r in gold if r.row.reason == "low_confidence"]
    return {
        "labelled": len(gold),
        "handed_over": round(len(handed) / len(gold), 4),
        "right_reason": round(len(right) / len(handed), 4) if handed else None,
        "out_of_scope": len(oos),
        "out_of_scope_handed_over": (
            round(sum(r.outcome.decision == "escalate" for r in oos) / len(oos), 4) if oos else None
        ),
    }
