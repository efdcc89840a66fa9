"""Topic rules: an article whose title names an escalation topic ("Get refund", "Contact a
human agent", "Complaints") marks every question that matches it for a human. A team can set
or clear this per article (`escalate:` in front matter, `"escalate"` in kb.jsonl); the rule
only gives the default. The message rules are the agent's (`fte.agent.escalation`).
"""

from __future__ import annotations

import re
from typing import Final

from fte.tickets.reasons import COMPLAINT, HUMAN_REQUESTED, LEGAL, PRICING, REFUND

_I = re.IGNORECASE

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


def topic_reason(title: str) -> str | None:
    """The escalation topic an article's title names, or None."""
    for reason, pattern in TOPIC_RULES:
        if pattern.search(title):
            return reason
    return None
