"""What the top of a ticket page says: a status line that tells the truth about who has the
ticket and what it waits for, the draft waiting for a decision, and the confirmation (flash)
of the action just taken."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from fte.tickets import reasons

SOLVED: Final = ("resolved", "closed")
REASON_WORDS: Final = {
    reasons.HUMAN_REQUESTED: "the customer asked for a person",
    reasons.LEGAL: "legal language",
    reasons.REFUND: "refund",
    reasons.PRICING: "pricing",
    reasons.COMPLAINT: "complaint",
    reasons.SECURITY: "security",
    reasons.DATA_LOSS: "data loss",
    reasons.CHURN_RISK: "churn risk",
    reasons.NEGATIVE: "negative sentiment",
    reasons.LOW_CONFIDENCE: "the agent was not sure",
    reasons.REPEAT: "repeat contact",
    reasons.AI_UNAVAILABLE: "the AI was unavailable",
}

# The confirmations a redirect may ask for (`?done=KEY`): fixed texts, so a link cannot put
# words of its own on the page.
FLASHES: Final = {
    "sent": "Reply sent.",
    "approved": "Draft approved and sent.",
    "rejected": "Draft rejected. The reason is kept for whoever edits the article.",
    "saved": "Status and priority saved.",
    "unchanged": "Nothing to save: status and priority were already so.",
    "taken": "You have this ticket now: the agent stays silent on it.",
    "handed_back": "Handed back to the agent: it answers the customer's next message.",
    "assigned": "Ticket assigned.",
    "unassigned": "Unassigned: the agent answers this ticket again.",
    "noted": "Note added. Only your team sees it.",
}


def reason_words(reason: str | None) -> str:
    """An escalation reason as people say it."""
    if not reason:
        return "needs a person"
    return REASON_WORDS.get(reason, reason.replace("_", " "))


def open_draft(
    ticket: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    rejected: set[Any],
    sent_by_people: set[Any],
) -> Mapping[str, Any] | None:
    """The newest agent run's draft when it still waits for a person: not sent, not rejected,
    and the ticket not solved. An older draft was overtaken by the customer's next message.
    An escalation's reply is its holding note: its draft is sent once a person's message is
    the run's reply (`sent_by_people`: the ids of messages people wrote)."""
    if not runs or ticket["status"] in SOLVED:
        return None
    latest = runs[-1]
    if not latest["draft"] or latest["id"] in rejected:
        return None
    reply = latest["reply_message_id"]
    if reply is not None and (latest["decision"] != "escalate" or reply in sent_by_people):
        return None
    return latest


def status_line(
    ticket: Mapping[str, Any],
    assignee: str | None,
    draft: Mapping[str, Any] | None,
) -> list[str]:
    """The ticket's state in words, most important first: "Solved", "Escalated: REASON",
    "Waiting for approval", "Assigned to NAME", "Waiting for the customer" or "With the
    agent"."""
    status = ticket["status"]
    if status in SOLVED:
        return ["Solved"]
    parts = []
    if status == "escalated":
        parts.append(f"Escalated: {reason_words(ticket['escalation_reason'])}")
    elif draft is not None and draft["decision"] == "draft":
        parts.append("Waiting for approval")
    if assignee:
        parts.append(f"Assigned to {assignee}")
    if status == "pending":
        parts.append("Waiting for the customer")
    return parts or ["With the agent"]
