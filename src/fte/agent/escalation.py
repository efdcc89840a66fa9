"""When a message goes to a human, and why.

Two kinds of rule:
- message rules: explicit wording that goes to a human whatever the knowledge base says
  (legal threats, an explicit demand for a person, a refund demand, price negotiation);
- topic rules: an article whose title names an escalation topic ("Get refund", "Contact a
  human agent", "Complaints") marks every question that matches it for a human. A team can set
  or clear this per article (`escalate:` in front matter, `"escalate"` in kb.jsonl).

The rules are deliberately narrow: asking *about* refunds ("how long do refunds take?") is a
question the knowledge base answers; retrieval routes it to the right article.
"""

from __future__ import annotations

import re
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

_I = re.IGNORECASE

# Checked in this order: the first match names the reason. Legal language outranks everything:
# a message that mentions a lawyer must reach a human even if it also asks for a refund.
MESSAGE_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        LEGAL,
        re.compile(
            r"\b(lawyers?|attorneys?|solicitors?|legal (?:action|advice|team|department|steps)|"
            r"sue|suing|sued|lawsuit|litigation|court|small claims|class action|"
            r"cease and desist|subpoena)\b",
            _I,
        ),
    ),
    (
        HUMAN_REQUESTED,
        re.compile(
            r"\b(?:(?:speak|talk|chat|get through|connect me|put me through)\s+(?:to|with)\s+"
            r"(?:a |an |your |the )?(?:real |live |actual )?"
            r"(?:human|person|people|agent|representative|rep|someone|somebody|manager|"
            r"supervisor|operator)|"
            r"(?:real|live|actual) (?:human|person|agent)|human (?:agent|being)|"
            r"customer (?:service|support) (?:agent|rep|representative))\b",
            _I,
        ),
    ),
    (
        REFUND,
        re.compile(
            r"\b(?:(?:i|we) (?:want|need|demand|expect to get|would like)|i'?d like|give me|"
            r"refund me|issue (?:me )?)\s*(?:a |my |the |an? )?(?:full |immediate )?"
            r"(?:refund|money back|reimbursement)\b|\bchargeback\b|"
            r"\b(?:charged|billed) (?:me )?twice\b|"
            # Demands worded without "refund": the charge undone, the payment returned.
            r"\b(?:reverse|undo) (?:the |this |that |my |last \w+'?s? )?(?:charge|payment)|"
            r"\b(?:return|give back|send back|pay back) (?:me )?(?:the |my |this |that )?"
            r"(?:\w+ )?(?:payment|charge|money)\b|"
            r"\b(?:get|have|want) (?:my|our) money back\b",
            _I,
        ),
    ),
    (
        PRICING,
        re.compile(
            r"\b(?:custom|special|volume|enterprise|non-?profit|education(?:al)?|bulk) "
            r"(?:pricing|price|prices|discount|rate|quote)|\bdiscount(?:s|ed)?\b|"
            r"\b(?:a |an )?(?:price )?quote for\b|\bnegotiat\w*|\bcoupon\b",
            _I,
        ),
    ),
)

TOPIC_RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (LEGAL, re.compile(r"\b(legal|lawsuit|law enforcement|subpoena)", _I)),
    (
        HUMAN_REQUESTED,
        re.compile(
            r"\b(human|live) (agent|person|support)\b|\b(speak|talk|chat) (to|with)\b|"
            r"\bcontact (a |an )?(agent|representative|person)\b",
            _I,
        ),
    ),
    (REFUND, re.compile(r"^(get|request|claim|ask for)\b.*\brefunds?\b|^refunds?\b", _I)),
    (COMPLAINT, re.compile(r"\bcomplaints?\b|\bfil(e|ing) a claim\b", _I)),
    (PRICING, re.compile(r"\b(custom|special|volume|enterprise) pricing\b|\bquotes?\b", _I)),
)


def message_reason(text: str) -> str | None:
    """The escalation reason the message's own wording demands, or None."""
    for reason, pattern in MESSAGE_RULES:
        if pattern.search(text):
            return reason
    return None


def topic_reason(title: str) -> str | None:
    """The escalation topic an article's title names, or None."""
    for reason, pattern in TOPIC_RULES:
        if pattern.search(title):
            return reason
    return None
