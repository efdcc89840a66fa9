"""Scoring the agent's runs against gold labels. Pure functions: easy to test, easy to trust."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fte.evaluation.dataset import EvalRow

SENTIMENTS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class RunOutcome:
    """What the agent did with one row."""

    decision: str  # answer | escalate | draft
    reason: str | None
    ranked_articles: list[str]  # article ids (the data set's), best first
    sentiment: str | None
    latency_ms: float


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score(rows: Sequence[EvalRow], outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    """Every figure `fte eval --json` prints."""
    pairs = list(zip(rows, outcomes, strict=True))

    ranked = [(r, o) for r, o in pairs if r.article and r.reason != "low_confidence"]
    top1 = sum(1 for r, o in ranked if o.ranked_articles[:1] == [r.article])
    rr = 0.0
    for r, o in ranked:
        if r.article in o.ranked_articles[:10]:
            rr += 1 / (o.ranked_articles.index(r.article) + 1)

    labelled = [(r, o) for r, o in pairs if r.escalate is not None]
    correct = tp = fp = fn = 0
    for r, o in labelled:
        escalated = o.decision == "escalate"
        if r.escalate:
            correct += escalated
            tp += escalated
            fn += not escalated
        else:
            correct += not escalated and o.ranked_articles[:1] == [r.article]
            fp += escalated

    reasons = sorted(
        {r.reason for r, _ in labelled if r.reason}
        | {o.reason for r, o in labelled if o.decision == "escalate" and o.reason}
    )
    per_reason = {}
    for reason in reasons:
        predicted = [(r, o) for r, o in labelled if o.decision == "escalate" and o.reason == reason]
        gold = [(r, o) for r, o in labelled if r.escalate and r.reason == reason]
        hit = sum(1 for r, _ in predicted if r.escalate and r.reason == reason)
        per_reason[reason] = {
            "precision": _ratio(hit, len(predicted)),
            "recall": _ratio(hit, len(gold)),
            "support": len(gold),
        }

    felt = [(r.sentiment, o.sentiment) for r, o in pairs if r.sentiment]
    sentiment: dict[str, Any] = {
        "sentiment_accuracy": None,
        "sentiment_macro_f1": None,
        "negative_recall": None,
    }
    if felt:
        f1s = []
        for label in SENTIMENTS:
            t = sum(1 for g, p in felt if g == label and p == label)
            p_n = sum(1 for _, p in felt if p == label)
            g_n = sum(1 for g, _ in felt if g == label)
            prec, rec = (t / p_n if p_n else 0.0), (t / g_n if g_n else 0.0)
            f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
        neg = [p for g, p in felt if g == "negative"]
        sentiment = {
            "sentiment_accuracy": _ratio(sum(1 for g, p in felt if g == p), len(felt)),
            "sentiment_macro_f1": round(sum(f1s) / len(f1s), 4),
            "negative_recall": _ratio(sum(1 for p in neg if p == "negative"), len(neg)),
        }

    latencies = [o.latency_ms for o in outcomes]
    p50, p95 = _percentile(latencies, 50), _percentile(latencies, 95)
    return {
        "n": len(pairs),
        "retrieval_top1": _ratio(top1, len(ranked)),
        "mrr10": round(rr / len(ranked), 4) if ranked else None,
        "action_accuracy": _ratio(correct, len(labelled)),
        "escalation_precision": _ratio(tp, tp + fp) if labelled else None,
        "escalation_recall": _ratio(tp, tp + fn) if labelled else None,
        "per_reason": per_reason,
        **sentiment,
        "p50_ms": round(p50, 2) if p50 is not None else None,
        "p95_ms": round(p95, 2) if p95 is not None else None,
    }
