"""What the model sent back, checked before anything reaches a customer.

Tool-call arguments are parsed and validated; an answer must cite articles the model was shown
in this conversation. `BadCall` is a mistake the model may correct (it goes back to the model as
the tool result); `ResponderFailure` ends the conversation and the fallback answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from openai.types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall
from openai.types.chat.chat_completion import Choice

from fte.agent import escalation
from fte.agent.formatting import markdown_to_text
from fte.agent.responders import prompts
from fte.agent.responders.base import Draft, ResponderInput
from fte.agent.retrieval import Source

NAME: Final = "openai-compatible"  # the model name on this responder's drafts


class ResponderFailure(Exception):
    """The model's reply cannot be used; `reason` becomes the draft's fallback_reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class BadCall(Exception):
    """A tool call the model can correct: the message goes back to it as the tool result."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class Conversation:
    """One message's conversation: what the model was shown and what it cost."""

    known: dict[uuid.UUID, Source]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    model: str | None = None
    corrected: bool = False  # the model already had its one correction
    tools_called: list[str] = field(default_factory=list)
    # The customer's profile, returned with their history (ResponderInput.customer).
    customer: dict[str, Any] | None = None

    def learn(self, sources: Sequence[Source]) -> None:
        for source in sources:
            self.known.setdefault(source.article_id, source)


def first_choice(completion: ChatCompletion) -> Choice:
    choices = getattr(completion, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise ResponderFailure("invalid_response", "the endpoint returned no choices")
    choice: Choice = choices[0]
    return choice


def assistant_message(choice: Choice, turn: int) -> dict[str, Any]:
    """The model's tool-calling turn, echoed back so the next call sees its own calls."""
    calls = choice.message.tool_calls or []
    return {
        "role": "assistant",
        "content": choice.message.content,
        "tool_calls": [
            {
                "id": call_id(c, turn, i),
                "type": "function",
                "function": {
                    "name": c.function.name,
                    "arguments": c.function.arguments,
                },
            }
            for i, c in enumerate(calls)
            if isinstance(c, ChatCompletionMessageFunctionToolCall)
        ],
    }


def call_id(call: Any, turn: int, index: int) -> str:
    # Some servers omit ids; any id works as long as the call and its result agree.
    return getattr(call, "id", None) or f"call_{turn}_{index}"


def arguments(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BadCall(
            "invalid_tool_arguments", f"The arguments are not valid JSON ({exc.msg})."
        ) from None
    if not isinstance(args, dict):
        raise BadCall("invalid_tool_arguments", "The arguments must be a JSON object.")
    return args


def text_argument(args: dict[str, Any], key: str, required: bool = False) -> str:
    value = args.get(key)
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadCall("invalid_tool_arguments", f"'{key}' must be a non-empty string.")
    return value.strip()


def answer(args: dict[str, Any], run: Conversation) -> Draft:
    """send_response, checked: a body, and citations of articles the model was shown."""
    if not isinstance(args.get("body"), str):
        raise BadCall("invalid_tool_arguments", "'body' must be a string.")
    ids = args.get("article_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadCall("invalid_tool_arguments", "'article_ids' must be a list of strings.")
    body = markdown_to_text(args["body"])
    if not body:
        raise ResponderFailure("empty_answer", "send_response with an empty body")
    cited: dict[uuid.UUID, Source] = {}
    unknown = []
    for raw in ids:
        article_id = _uuid(raw.strip())
        source = run.known.get(article_id) if article_id else None
        if source is None:
            unknown.append(raw)
        else:
            cited.setdefault(source.article_id, source)
    citations = list(cited.values())
    if unknown:
        raise ResponderFailure("uncited_answer", f"cited articles it was not shown: {unknown}")
    if not citations:
        raise ResponderFailure("uncited_answer", "send_response without article ids")
    return Draft(decision="answer", body=body, citations=citations, model=NAME)


def escalation_draft(args: dict[str, Any]) -> Draft:
    reason = text_argument(args, "reason", required=True)
    summary = text_argument(args, "summary")
    extra: dict[str, Any] = {}
    if reason not in prompts.MODEL_ESCALATION_REASONS:
        extra["model_reason"] = reason
        reason = escalation.LOW_CONFIDENCE
    return Draft(
        decision="escalate",
        body=None,
        citations=[],
        model=NAME,
        reason=reason,
        summary=summary or None,
        extra=extra,
    )


def plain_text_answer(request: ResponderInput, choice: Choice) -> Draft:
    """A reply without a tool call: usable only as an answer from the top source."""
    if choice.finish_reason == "length":
        raise ResponderFailure("truncated", "the reply hit the token limit")
    if choice.finish_reason == "content_filter" or choice.message.refusal:
        raise ResponderFailure("refused", "the model refused or was filtered")
    body = markdown_to_text(choice.message.content or "")
    if not body:
        raise ResponderFailure("empty_answer", "no tool call and no text")
    if not request.sources:
        raise ResponderFailure("uncited_answer", "plain-text reply with no sources to cite")
    return Draft(
        decision="answer",
        body=body,
        citations=[request.sources[0]],
        model=NAME,
        extra={"plain_text": True},
    )


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
