"""The escalation reasons: the values of `tickets.escalation_reason` and of an article's
escalation topic. A leaf module, so the knowledge base and the console can name a reason
without importing the agent that decides one (the rules are in `fte.agent.escalation`)."""

from __future__ import annotations

from typing import Final

HUMAN_REQUESTED = "human_requested"
LEGAL = "legal_language"
REFUND = "refund"
PRICING = "pricing"
COMPLAINT = "complaint"
# The hand-over policy's (agent/handover.py): what a person must read whatever the KB says.
SECURITY = "security"
DATA_LOSS = "data_loss"
CHURN_RISK = "churn_risk"
NEGATIVE = "negative_sentiment"
LOW_CONFIDENCE = "low_confidence"
REPEAT = "repeat_contact"
AI_UNAVAILABLE = "ai_unavailable"

REASONS: Final = (
    HUMAN_REQUESTED,
    LEGAL,
    REFUND,
    PRICING,
    COMPLAINT,
    SECURITY,
    DATA_LOSS,
    CHURN_RISK,
    NEGATIVE,
    LOW_CONFIDENCE,
    REPEAT,
    AI_UNAVAILABLE,
)
# Reasons a knowledge-base article can carry as its escalation topic.
TOPIC_REASONS: Final = (HUMAN_REQUESTED, LEGAL, REFUND, PRICING, COMPLAINT)
