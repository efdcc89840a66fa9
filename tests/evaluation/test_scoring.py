"""The figures `fte eval` prints, on hand-made outcomes where the right answer is obvious."""

from fte.evaluation.dataset import EvalRow
from fte.evaluation.scoring import RunOutcome, score


def row(
    i: int,
    article: str | None,
    escalate: bool,
    reason: str | None = None,
    sentiment: str | None = None,
) -> EvalRow:
    return EvalRow(
        id=str(i),
        text="q",
        channel="web_form",
        article=article,
        has_article_label=True,
        escalate=escalate,
        reason=reason,
        sentiment=sentiment,
    )


def out(
    decision: str,
    ranked: list[str],
    reason: str | None = None,
    sentiment: str | None = None,
    ms: float = 10.0,
) -> RunOutcome:
    return RunOutcome(
        decision=decision, reason=reason, ranked_articles=ranked, sentiment=sentiment, latency_ms=ms
    )


def test_retrieval_action_and_escalation_figures() -> None:
    rows = [
        row(1, "a", False),  # answered right
        row(2, "b", False),  # answered with the wrong article
        row(3, "c", False),  # escalated needlessly
        row(4, "refund", True, "refund"),  # escalated, right reason
        row(5, None, True, "low_confidence"),  # out of scope, escalated
        row(6, None, True, "low_confidence"),  # out of scope, answered: a miss
    ]
    outs = [
        out("answer", ["a", "b"]),
        out("answer", ["a", "b"]),
        out("escalate", ["c"], "low_confidence"),
        out("escalate", ["refund", "a"], "refund"),
        out("escalate", ["a"], "low_confidence"),
        out("answer", ["a"]),
    ]
    figures = score(rows, outs)
    assert figures["n"] == 6
    # ranked rows: 1..4 (out-of-scope rows have no article): hits at 1, 3, 4; row 2 at rank 2
    assert figures["retrieval_top1"] == 0.75
    assert figures["mrr10"] == round((1 + 0.5 + 1 + 1) / 4, 4)
    assert figures["action_accuracy"] == round(3 / 6, 4)  # rows 1, 4, 5
    assert figures["escalation_precision"] == round(2 / 3, 4)
    assert figures["escalation_recall"] == round(2 / 3, 4)
    assert figures["per_reason"]["refund"] == {"precision": 1.0, "recall": 1.0, "support": 1}
    assert figures["per_reason"]["low_confidence"] == {
        "precision": 0.5,
        "recall": 0.5,
        "support": 2,
    }
    assert figures["sentiment_macro_f1"] is None


def test_sentiment_figures_and_latency_percentiles() -> None:
    rows = [
        row(i, None, False, sentiment=s)
        for i, s in enumerate(["negative", "negative", "neutral", "positive"])
    ]
    outs = [
        out("escalate", [], "low_confidence", sentiment=s, ms=float(i + 1) * 10)
        for i, s in enumerate(["negative", "neutral", "neutral", "positive"])
    ]
    figures = score(rows, outs)
    assert figures["sentiment_accuracy"] == 0.75
    assert figures["negative_recall"] == 0.5
    # F1: negative 2/3, neutral 2/3, positive 1
    assert figures["sentiment_macro_f1"] == round((2 / 3 + 2 / 3 + 1) / 3, 4)
    assert figures["p50_ms"] == 30.0 and figures["p95_ms"] == 40.0
