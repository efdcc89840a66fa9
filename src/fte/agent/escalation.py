"""When a message goes to a human, and why.

Two kinds of rule:
- message rules: explicit wording that goes to a human whatever the knowledge base says
  (legal threats, an explicit demand for a person, a refund demand, price negotiation);
- topic rules: an article whose title names an escalation topic marks every question that
  matches it for a human (`fte.knowledge.escalation`).

The reason names are in `fte.tickets.reasons`.

The rules are deliberately narrow: asking *about* refunds ("how long do refunds take?") is a
question the knowledge base answers; retrieval routes it to the right article.
"""

from __future__ import annotations

import re
from typing import Final

# Re-exported: the agent's code names a reason as `escalation.LEGAL`, beside the rules.
from fte.tickets.reasons import (
    AI_UNAVAILABLE as AI_UNAVAILABLE,
)
from fte.tickets.reasons import (
    CHURN_RISK as CHURN_RISK,
)
from fte.tickets.reasons import (
    COMPLAINT as COMPLAINT,
)
from fte.tickets.reasons import (
    DATA_LOSS as DATA_LOSS,
)
from fte.tickets.reasons import (
    HUMAN_REQUESTED as HUMAN_REQUESTED,
)
from fte.tickets.reasons import (
    LEGAL as LEGAL,
)
from fte.tickets.reasons import (
    LOW_CONFIDENCE as LOW_CONFIDENCE,
)
from fte.tickets.reasons import (
    NEGATIVE as NEGATIVE,
)
from fte.tickets.reasons import (
    PRICING as PRICING,
)
from fte.tickets.reasons import (
    REASONS as REASONS,
)
from fte.tickets.reasons import (
    REFUND as REFUND,
)
from fte.tickets.reasons import (
    REPEAT as REPEAT,
)
from fte.tickets.reasons import (
    SECURITY as SECURITY,
)
from fte.tickets.reasons import (
    TOPIC_REASONS as TOPIC_REASONS,
)

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


def message_reason(text: str) -> str | None:
    """The escalation reason the message's own wording demands, or None."""
    for reason, pattern in MESSAGE_RULES:
        if pattern.search(text):
            return reason
    return None
