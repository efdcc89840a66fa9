"""Replies written by an OpenAI-compatible chat endpoint (OpenAI, Groq, Ollama, vLLM).

The model gets the customer's message and the retrieved sources, may search the knowledge base
and read the customer's history, and must finish with `send_response` (citing sources) or
`escalate_to_human`. The model is not trusted: an answer that cites nothing, or an article it
was never shown, is rejected. Whenever the model cannot be used (endpoint down, breaker open,
rejected answer, too many turns) `respond` returns the fallback responder's draft with a
machine-readable `fallback_reason`; it never raises for those.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, cast

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)
from openai.types.chat.chat_completion import Choice
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from fte.agent import escalation
from fte.agent.formatting import markdown_to_text
from fte.agent.responders import prompts
from fte.agent.responders.base import Draft, Responder, ResponderInput, ToolBox, Usage
from fte.agent.retrieval import Source
from fte.config import Settings
from fte.kit.circuit_breaker import CircuitBreaker, CircuitOpenError

log = logging.getLogger(__name__)

NAME: Final = "openai-compatible"
MAX_TURNS: Final = 5
BACKOFF_SECONDS: Final = 0.5  # first retry waits about this long, doubling, plus jitter
BACKOFF_MAX_SECONDS: Final = 8.0
# A server asking us to wait longer than this is better answered by the fallback now than by a
# worker holding the message (its lease is a minute by default).
MAX_RETRY_AFTER_SECONDS: Final = 10.0
# Local servers (Ollama, vLLM) need no key, but the client refuses to start without one.
NO_API_KEY: Final = "not-needed"


class ResponderFailure(Exception):
    """The model's reply cannot be used; `reason` becomes the draft's fallback_reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class _BadCall(Exception):
    """A tool call the model can correct: the message goes back to it as the tool result."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class _Run:
    """One message's conversation: what the model was shown and what it cost."""

    known: dict[uuid.UUID, Source]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    model: str | None = None
    corrected: bool = False  # the model already had its one correction
    tools_called: list[str] = field(default_factory=list)

    def learn(self, sources: Sequence[Source]) -> None:
        for source in sources:
            self.known.setdefault(source.article_id, source)


class OpenAICompatibleResponder:
    """A `Responder` backed by a Chat Completions endpoint with tool calling."""

    name = NAME

    def __init__(
        self,
        settings: Settings,
        fallback: Responder,
        breaker: CircuitBreaker | None = None,
        *,
        max_turns: int = MAX_TURNS,
        backoff_seconds: float = BACKOFF_SECONDS,
        deadline_seconds: float | None = None,
    ):
        if not settings.llm_base_url:
            raise ValueError("FTE_LLM_BASE_URL is not set")
        self.settings = settings
        self.fallback = fallback
        self.breaker = breaker or CircuitBreaker(
            settings.llm_breaker_failures, settings.llm_breaker_reset_seconds, name="llm"
        )
        self.max_turns = max_turns
        # Worst case without it: max_turns x (1 + retries) x timeout, plus waits.
        self.deadline_seconds = deadline_seconds
        self._backoff = wait_exponential_jitter(
            multiplier=backoff_seconds, max=BACKOFF_MAX_SECONDS, jitter=backoff_seconds
        )
        # Retries are ours (tenacity), so that each attempt passes through the breaker.
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key or NO_API_KEY,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,
        )
        self._system_prompt = prompts.system_prompt(settings.company_name)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.close()

    async def respond(self, request: ResponderInput, tools: ToolBox) -> Draft:
        """The model's answer or escalation; the fallback's draft when the model can't be used."""
        run = _Run(known={s.article_id: s for s in request.sources})
        deadline = asyncio.timeout(self.deadline_seconds)
        try:
            async with deadline:
                draft = await self._converse(request, tools, run)
        except TimeoutError:
            if not deadline.expired():
                raise
            failure = ResponderFailure("deadline", f"no answer in {self.deadline_seconds}s")
            return await self._fall_back(request, tools, run, failure)
        except ResponderFailure as failure:
            return await self._fall_back(request, tools, run, failure)
        return replace(
            draft,
            model=run.model or self.settings.llm_model,
            usage=self._usage(run),
            extra={**draft.extra, "llm": {"calls": run.calls, "tools": run.tools_called}},
        )

    # ---- the conversation --------------------------------------------------------------------

    async def _converse(self, request: ResponderInput, tools: ToolBox, run: _Run) -> Draft:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system_prompt},
            {"role": "user", "content": prompts.first_user_message(request)},
        ]
        for _ in range(self.max_turns):
            choice = _first_choice(await self._complete(messages, run))
            calls = choice.message.tool_calls or []
            if not calls:
                return _plain_text_answer(request, choice)
            messages.append(_assistant_message(choice, run.calls))
            draft = await self._run_tools(calls, tools, run, messages, run.calls)
            if draft is not None:
                return draft
        raise ResponderFailure("turn_limit", f"no answer after {self.max_turns} model calls")

    async def _run_tools(
        self,
        calls: Sequence[Any],
        tools: ToolBox,
        run: _Run,
        messages: list[dict[str, Any]],
        turn: int,
    ) -> Draft | None:
        """Execute one turn's tool calls; a Draft when the model finished."""
        corrected_now = False
        for i, call in enumerate(calls):
            is_function = isinstance(call, ChatCompletionMessageFunctionToolCall)
            run.tools_called.append(call.function.name if is_function else "?")
            try:
                draft, result = await self._run_tool(call, tools, run)
            except _BadCall as bad:
                if run.corrected:
                    raise ResponderFailure(bad.reason, str(bad)) from None
                corrected_now = True
                draft, result = (
                    None,
                    prompts.tool_error(f"{bad} Call the tool again with valid arguments."),
                )
            if draft is not None:
                return draft
            messages.append(
                {"role": "tool", "tool_call_id": _call_id(call, turn, i), "content": result}
            )
        run.corrected = run.corrected or corrected_now
        return None

    async def _run_tool(self, call: Any, tools: ToolBox, run: _Run) -> tuple[Draft | None, str]:
        if not isinstance(call, ChatCompletionMessageFunctionToolCall):
            raise _BadCall("unknown_tool", "Only function tools are available.")
        name, args = call.function.name, _arguments(call.function.arguments)
        if name == prompts.SEND_RESPONSE:
            return _answer(args, run), ""
        if name == prompts.ESCALATE_TO_HUMAN:
            return _escalation(args), ""
        try:
            if name == prompts.SEARCH_KNOWLEDGE_BASE:
                query = _text(args, "query", required=True)
                found = await tools.search_knowledge_base(query)
                run.learn(found[: prompts.SEARCH_RESULTS])
                return None, prompts.search_result(query, found)
            if name == prompts.GET_CUSTOMER_HISTORY:
                return None, prompts.history_result(await tools.get_customer_history())
        except _BadCall:
            raise
        except Exception as exc:
            log.exception("tool %s failed", name)
            raise ResponderFailure("tool_error", f"{name}: {type(exc).__name__}") from exc
        raise _BadCall("unknown_tool", f"There is no tool named {name!r}.")

    # ---- the endpoint ------------------------------------------------------------------------

    async def _complete(self, messages: list[dict[str, Any]], run: _Run) -> ChatCompletion:
        """One model call, retried on transient errors, each attempt through the breaker."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_transient),
                stop=self._stop,
                wait=self._wait,
                reraise=True,
            ):
                with attempt:
                    async with self.breaker.guard(_endpoint_failed):
                        completion = await self._client.chat.completions.create(
                            model=self.settings.llm_model,
                            messages=cast(list[ChatCompletionMessageParam], messages),
                            tools=cast(list[ChatCompletionToolUnionParam], prompts.TOOLS),
                        )
        except Exception as exc:
            if not isinstance(exc, openai.OpenAIError | CircuitOpenError):
                log.exception("unexpected error calling the model")
            raise ResponderFailure(_failure_reason(exc), _describe(exc)) from exc
        run.calls += 1
        run.model = getattr(completion, "model", None) or run.model
        usage = getattr(completion, "usage", None)
        if usage is not None:
            run.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            run.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        return completion

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number > self.settings.llm_max_retries:
            return True
        if self.breaker.state == "open":
            return True  # the next attempt would be refused; report the real error instead
        exc = state.outcome.exception() if state.outcome else None
        after = retry_after_seconds(exc)
        return after is not None and after > MAX_RETRY_AFTER_SECONDS

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = retry_after_seconds(exc)
        return after if after is not None else float(self._backoff(state))

    # ---- outcomes ----------------------------------------------------------------------------

    def _usage(self, run: _Run) -> Usage:
        s = self.settings
        cost = (
            run.prompt_tokens * s.llm_input_cost_per_1k
            + run.completion_tokens * s.llm_output_cost_per_1k
        ) / 1000
        return Usage(run.prompt_tokens, run.completion_tokens, round(cost, 6))

    async def _fall_back(
        self, request: ResponderInput, tools: ToolBox, run: _Run, failure: ResponderFailure
    ) -> Draft:
        log.warning(
            "ticket #%s: model not used (%s: %s); %s responder stands in",
            request.ticket_number,
            failure.reason,
            failure.detail,
            self.fallback.name,
        )
        draft = await self.fallback.respond(request, tools)
        usage = draft.usage
        if run.calls:  # tokens the endpoint billed for still count
            mine = self._usage(run)
            usage = (
                mine
                if usage is None
                else Usage(
                    usage.prompt_tokens + mine.prompt_tokens,
                    usage.completion_tokens + mine.completion_tokens,
                    round(usage.cost_usd + mine.cost_usd, 6),
                )
            )
        llm = {
            "model": run.model or self.settings.llm_model,
            "calls": run.calls,
            "tools": run.tools_called,
            "error": failure.detail,
        }
        return replace(
            draft, fallback_reason=failure.reason, usage=usage, extra={**draft.extra, "llm": llm}
        )


# ---- what the model said ---------------------------------------------------------------------


def _first_choice(completion: ChatCompletion) -> Choice:
    choices = getattr(completion, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise ResponderFailure("invalid_response", "the endpoint returned no choices")
    choice: Choice = choices[0]
    return choice


def _assistant_message(choice: Choice, turn: int) -> dict[str, Any]:
    """The model's tool-calling turn, echoed back so the next call sees its own calls."""
    calls = choice.message.tool_calls or []
    return {
        "role": "assistant",
        "content": choice.message.content,
        "tool_calls": [
            {
                "id": _call_id(c, turn, i),
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


def _call_id(call: Any, turn: int, index: int) -> str:
    # Some servers omit ids; any id works as long as the call and its result agree.
    return getattr(call, "id", None) or f"call_{turn}_{index}"


def _arguments(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _BadCall(
            "invalid_tool_arguments", f"The arguments are not valid JSON ({exc.msg})."
        ) from None
    if not isinstance(args, dict):
        raise _BadCall("invalid_tool_arguments", "The arguments must be a JSON object.")
    return args


def _text(args: dict[str, Any], key: str, required: bool = False) -> str:
    value = args.get(key)
    if not isinstance(value, str) or (required and not value.strip()):
        raise _BadCall("invalid_tool_arguments", f"'{key}' must be a non-empty string.")
    return value.strip()


def _answer(args: dict[str, Any], run: _Run) -> Draft:
    """send_response, checked: a body, and citations of articles the model was shown."""
    if not isinstance(args.get("body"), str):
        raise _BadCall("invalid_tool_arguments", "'body' must be a string.")
    ids = args.get("article_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _BadCall("invalid_tool_arguments", "'article_ids' must be a list of strings.")
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


def _escalation(args: dict[str, Any]) -> Draft:
    reason = _text(args, "reason", required=True)
    summary = _text(args, "summary")
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


def _plain_text_answer(request: ResponderInput, choice: Choice) -> Draft:
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


# ---- errors ------------------------------------------------------------------------------------


def _transient(exc: BaseException) -> bool:
    """Worth another attempt: timeouts, connection errors, 408, 429, 5xx."""
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError is one
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code in (408, 429) or exc.status_code >= 500
    )


def _endpoint_failed(exc: BaseException) -> bool:
    """Counts against the breaker: the endpoint is down, overloaded or misconfigured. A 400
    is about one request, and proves the endpoint is up."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (401, 403, 404, 408, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, CircuitOpenError):
        return "breaker_open"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 429:
            return "rate_limited"
        if code == 408:
            return "timeout"
        if code >= 500:
            return "server_error"
        if code in (401, 403):
            return "auth_error"
        return "client_error"
    return "invalid_response"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait a 429/503 asks for (`retry-after-ms`, `retry-after` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        if header == "retry-after":
            when = email.utils.parsedate_tz(value)
            if when is not None:
                return max(0.0, email.utils.mktime_tz(when) - time.time())
    return None
