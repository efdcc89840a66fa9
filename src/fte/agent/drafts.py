"""The reply a human is offered with an escalation: written for the reason it was escalated.

An approved draft goes to the customer as it stands, so a draft that answers a different
question than the one asked is worse than none:
- legal language: no draft; what we say is for a person to decide;
- low confidence: no draft; nothing we have fits, and an article that does not is a trap;
- an escalation topic the knowledge base documents (refund, pricing...): acknowledge the
  request, state the policy from that topic's own article (its section that answers), say a
  person will confirm; never another article;
- any other reason: the answer the agent would have sent, when it was sure of the article.
"""

from __future__ import annotations

from collections.abc import Sequence

from fte.agent import escalation
from fte.agent.responders import local
from fte.agent.retrieval import Source

NO_DRAFT = frozenset({escalation.LEGAL, escalation.LOW_CONFIDENCE})

_ACKNOWLEDGE = {
    escalation.REFUND: "Thank you for getting in touch about a refund.",
    escalation.PRICING: "Thank you for asking about pricing.",
}
_CONFIRM = "A member of our team will review your account and confirm what we can do for you here."


def write(
    reason: str,
    sources: Sequence[Source],
    message: str,
    customer_name: str | None,
    *,
    confident: bool,
) -> tuple[str, list[Source]] | None:
    """(body, the sources it is written from) for a human to approve, or None."""
    if reason in NO_DRAFT:
        return None
    if reason in escalation.TOPIC_REASONS and reason in _ACKNOWLEDGE:
        topic = next((s for s in sources if s.escalation_reason == reason), None)
        parts = [_ACKNOWLEDGE[reason]]
        if topic is not None:
            parts.append(local.answer_body(topic, message, customer_name, cross_links=False))
        parts.append(_CONFIRM)
        return "\n\n".join(parts), [topic] if topic is not None else []
    best = sources[0] if sources else None
    if best is None or not confident or best.escalation_reason not in (None, reason):
        return None
    return local.answer_body(best, message, customer_name), [best]
