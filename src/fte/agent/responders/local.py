"""The local grounded responder: the reply is the best-matching article, nothing invented."""

from __future__ import annotations

from fte.agent.formatting import markdown_to_text, strip_title
from fte.agent.retrieval import Source

NAME = "local-grounded"

ESCALATION_NOTE = (
    "Thank you for getting in touch. I have passed your message to a member of our support "
    "team, who will reply to you here as soon as they can."
)


def answer_body(source: Source) -> str:
    """The article as plain paragraphs; the channel adds the greeting and the citation."""
    return markdown_to_text(strip_title(source.body, source.title))
