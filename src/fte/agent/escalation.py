"""Rules that hand a message to a human whatever the knowledge base says, each with its reason."""

from __future__ import annotations

import re
from typing import Final

# Checked in this order: the first match names the reason. Legal language outranks everything:
# a message that mentions a lawyer must reach a human even if it also asks for a refund.
RULES: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "legal_language",
        re.compile(
            r"\b(lawyers?|attorneys?|solicitors?|legal (?:action|advice|team|department)|"
            r"sue|suing|sued|lawsuit|litigation|court|small claims|class action|"
            r"cease and desist|subpoena)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "human_requested",
        re.compile(
            r"\b(?:(?:speak|talk|chat|get through|connect me|put me through)\s+(?:to|with)\s+"
            r"(?:a |an |your |the )?(?:real |live |actual )?"
            r"(?:human|person|people|agent|representative|rep|someone|somebody|manager|"
            r"supervisor|staff)|"
            r"(?:real|live|actual) (?:human|person|agent)|human agent|"
            r"customer (?:service|support) (?:agent|rep|representative))\b",
            re.IGNORECASE,
        ),
    ),
    (
        "refund",
        re.compile(
            r"\b(refunds?|refunded|refunding|money back|chargebacks?|reimburse(?:ment)?|"
            r"charged (?:me )?twice|double charged)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "pricing",
        re.compile(
            r"\b(price|prices|pricing|quote|discounts?|coupon|how much (?:does|do|is|for)|"
            r"cost|costs|cheaper|special offer|non-?profit rate)\b",
            re.IGNORECASE,
        ),
    ),
)

REASONS: Final[tuple[str, ...]] = (*(name for name, _ in RULES), "low_confidence")


def rule_reason(text: str) -> str | None:
    """The escalation reason a rule assigns to this text, or None."""
    for reason, pattern in RULES:
        if pattern.search(text):
            return reason
    return None
