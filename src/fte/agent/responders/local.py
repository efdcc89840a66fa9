"""The local grounded responder: the reply is the best-matching article, nothing invented."""

from __future__ import annotations

from fte.agent import passages
from fte.agent.formatting import markdown_to_text, strip_title
from fte.agent.placeholders import fill_placeholders
from fte.agent.responders.base import Draft, ResponderInput, ToolBox
from fte.agent.retrieval import Source

NAME = "local-grounded"

ESCALATION_NOTE = (
    "Thank you for getting in touch. I have passed your message to a member of our support "
    "team, who will reply to you here as soon as they can."
)


def answer_body(
    source: Source, message: str = "", customer_name: str | None = None, *, cross_links: bool = True
) -> str:
    """The section of the article that answers (or the whole article when the question is
    about the whole topic) as plain paragraphs, placeholders filled from the message or left
    out; the channel adds the greeting and the citation."""
    passage = passages.select(source, message)
    text = markdown_to_text(strip_title(passage.text, source.title))
    if passage.heading is not None and cross_links:
        others = passage.other_headings
        text += (
            f'\n\nOur article "{source.title}" also covers: ' + "; ".join(others) + "."
            if len(others) <= 3
            else f'\n\nOur article "{source.title}" covers the rest of this topic.'
        )
    return fill_placeholders(text, message, customer_name)


class LocalResponder:
    """Answers with the top source; used alone, and as the fallback of a model."""

    name = NAME

    async def respond(self, request: ResponderInput, tools: ToolBox) -> Draft:
        """The best source, verbatim; escalates when there is none."""
        if not request.sources:
            return Draft(
                decision="escalate", body=None, citations=[], model=NAME, reason="low_confidence"
            )
        best = request.sources[0]
        return Draft(
            decision="answer",
            body=answer_body(best, request.message, request.customer_name),
            citations=[best],
            model=NAME,
        )
