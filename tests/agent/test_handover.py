"""The hand-over policy: what a person must read on a first message, and what is answered."""

from __future__ import annotations

import pytest

from fte.agent.handover import handover_reason, holding_note
from fte.agent.responders.local import ESCALATION_NOTE
from fte.agent.sentiment import SentimentResult, default_analyzer
from fte.embeddings import Embedder

THRESHOLD = -0.9  # FTE_NEGATIVE_SENTIMENT_THRESHOLD's default


def felt(score: float) -> SentimentResult:
    label = "negative" if score < -0.3 else "positive" if score > 0.3 else "neutral"
    return SentimentResult(label=label, score=score)


@pytest.mark.parametrize(
    ("text", "score", "reason"),
    [
        ("Someone logged into my account from Brazil and changed my email.", -0.4, "security"),
        ("I think my account was hacked, I see folders I never made.", -0.6, "security"),
        ("There are two charges on my card that I did not make.", -0.3, "security"),
        ("Unauthorized payment taken from my account this morning", -0.5, "security"),
        (
            "Someone hacked my account and I would like it locked, how do I protect it?",
            -0.6,
            "security",
        ),
        ("Third time your sync wiped my files\u2026 I'm leaving", -0.6, "data_loss"),
        ("After your update all my photos are gone.", -0.7, "data_loss"),
        ("The restore overwrote my spreadsheet and I lost a week of work", -0.8, "data_loss"),
        ("Fed up with the outages, we're switching to another provider.", -0.8, "churn_risk"),
        ("You've lost a customer. Twelve years and this is how you treat me.", -0.9, "churn_risk"),
        ("This is ridiculous, cancel my subscription right now.", -0.95, "churn_risk"),
        ("I want to file a formal complaint about how my case was handled.", -0.2, "complaint"),
        ("Your agent hung up on me twice today.", -0.6, "complaint"),
        ("The courier was rude and threw the box over the gate.", -0.8, "complaint"),
        ("Worst service I have dealt with, nobody replies to my emails.", -0.99, "complaint"),
        # Very negative, and neither a question nor a fault to fix: a complaint.
        ("Four hours on the tarmac and not a word from anyone.", -0.97, "complaint"),
    ],
)
def test_messages_a_person_must_read_name_their_reason(
    text: str, score: float, reason: str
) -> None:
    assert handover_reason(text, felt(score), THRESHOLD) == reason


@pytest.mark.parametrize(
    "text",
    [
        "My files are not syncing since yesterday, what should I do?",
        "How do I reset my password?",
        "How do I cancel my subscription?",
        "I accidentally deleted a folder this morning, can I get it back?",
        "How can I tell if someone else has signed in to my account?",
        "How do I protect my account from being hacked?",
        "What happens to my files if I close my account?",
        "I'm leaving for a trip next week, can I pause my plan?",
        "My files are not syncing and I am fed up!",
        "The app crashes every time I open a large PDF, any workaround?",
    ],
)
def test_calm_questions_and_problem_reports_are_answered(embedder: Embedder, text: str) -> None:
    # The real default analyzer: the policy must hold with the score it gives.
    (sentiment,) = default_analyzer(embedder).analyze([text])
    assert handover_reason(text, sentiment, THRESHOLD) is None, sentiment


def test_without_a_sentiment_score_only_the_words_decide() -> None:
    assert handover_reason("Someone else signed in to my account", None, THRESHOLD) == "security"
    assert handover_reason("Not a word from anyone.", None, THRESHOLD) is None


def test_the_holding_reply_apologises_where_one_is_owed() -> None:
    for reason in ("complaint", "churn_risk", "data_loss"):
        assert "sorry" in holding_note(reason).lower()
    assert "change your password" in holding_note("security")
    assert holding_note("low_confidence") == ESCALATION_NOTE
