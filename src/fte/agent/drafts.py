"""The reply a human is offered with an escalation: written for the reason it was escalated.

An approved draft goes to the customer as it stands, so a draft that answers a different
question than the one asked is worse than none:
- legal language: no draft; what we say is for a person to decide;
- low confidence: no draft; nothing we have fits, and an article that does not is a trap;
- an escalation topic the knowledge base documents (refund, pricing...): acknowledge the
  request, state the policy from that topic's own article (its section that answers), say a
  person will confirm; never another article;
- what a person must read (security, data loss, churn risk, complaint, anger): an apology and
  what happens next, written for the reason; no article, since what the customer needs is a
  person's answer, and the article retrieval found is at best about the symptom;
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
# Openers a person completes with what they found; promises no outcome.
_PERSONAL = {
    escalation.SECURITY: (
        "Thank you for telling us, and I'm sorry for the worry. We are looking into the activity "
        "on your account now. Until we reply, please change your password if you can still sign "
        "in, and never share a code we send you."
    ),
    escalation.DATA_LOSS: (
        "I'm very sorry that your files are missing. We are looking into what happened and what "
        "we can recover, and will reply here as soon as we know more."
    ),
    escalation.CHURN_RISK: (
        "I'm sorry we let you down, and thank you for telling us before you go. "
        "We are looking into what went wrong."
    ),
    escalation.COMPLAINT: (
        "I'm sorry about your experience, and thank you for telling us. We are looking into it."
    ),
    escalation.NEGATIVE: (
        "I'm sorry this is still not right. We are looking into it and will reply here soon."
    ),
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
    if reason in _PERSONAL:
        return _PERSONAL[reason], []
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
