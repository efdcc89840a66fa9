"""`fte eval --calibrate` replays the agent's policy, hand-overs included; hand-over figures."""

from __future__ import annotations

from fte.evaluation.dataset import EvalRow
from fte.evaluation.review import handover_figures
from fte.evaluation.runner import EvalRecord, calibrate
from fte.evaluation.scoring import RunOutcome


def _record(
    text: str,
    *,
    escalate: bool,
    reason: str | None = None,
    confidence: float = 0.7,
    off_subject: bool = False,
    got: tuple[str, str | None] = ("answer", None),
) -> EvalRecord:
    article = None if escalate else "sync"
    row = EvalRow("r", text, "web_form", article, True, escalate, reason, None)
    outcome = RunOutcome(got[0], got[1], ["sync"], None, 10.0)
    return EvalRecord(row, outcome, confidence, None, -0.2, off_subject=off_subject)


def test_the_replay_hands_over_what_the_agent_hands_over() -> None:
    records = [
        _record(
            "Third time your sync wiped all my files. I'm done with you.",
            escalate=True,
            reason="data_loss",
        ),
        _record(
            "Does CloudSync integrate with Slack?",
            escalate=True,
            reason="low_confidence",
            off_subject=True,
        ),
        _record("my files are not syncing, what should I check?", escalate=False),
    ]
    (row,) = calibrate(records, [0.45], negative_threshold=-0.9)
    # Before, the replay knew only the answer bar: it answered the first two at 0.7.
    assert (row["action_accuracy"], row["escalation_precision"]) == (1.0, 1.0)
    assert row["low_confidence_recall"] == 1.0


def test_a_history_bar_above_the_grid_value_is_the_bar() -> None:
    records = [_record("my files are not syncing", escalate=False, confidence=0.5)]
    (low, high) = calibrate(records, [0.45, 0.45], -0.9), calibrate(records, [0.45], -0.9, 0.6)
    assert low[0]["action_accuracy"] == 1.0
    assert high[0]["action_accuracy"] == 0.0


def test_handover_figures_count_the_right_reason_apart_from_being_handed_over() -> None:
    records = [
        _record("refund me", escalate=True, reason="refund", got=("escalate", "refund")),
        _record(
            "slack?", escalate=True, reason="low_confidence", got=("escalate", "low_confidence")
        ),
        _record("hipaa?", escalate=True, reason="low_confidence", got=("escalate", "refund")),
        _record("zapier?", escalate=True, reason="low_confidence"),
        _record("sync?", escalate=False),
    ]
    assert handover_figures(records) == {
        "labelled": 4,
        "handed_over": 0.75,
        "right_reason": 0.6667,
        "out_of_scope": 3,
        "out_of_scope_handed_over": 0.6667,
    }
