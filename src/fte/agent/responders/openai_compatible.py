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
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final, cast

import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolUnionParam,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from fte.agent.responders import endpoint_errors, prompts, tool_calls
from fte.agent.responders.base import Draft, Responder, ResponderInput, ToolBox, Usage
from fte.config import Settings
from fte.kit.circuit_breaker import CircuitBreaker, CircuitOpenError
from fte.kit.redact import redact_messages

log = logging.getLogger(__name__)

MAX_TURNS: Final = 5
BACKOFF_SECONDS: Final = 0.5  # first retry waits about this long, doubling, plus jitter
BACKOFF_MAX_SECONDS: Final = 8.0
# A server asking us to wait longer than this is better answered by the fallback now than by a
# worker holding the message (its lease is a minute by default).
MAX_RETRY_AFTER_SECONDS: Final = 10.0
# Local servers (Ollama, vLLM) need no key, but the client refuses to start without one.
NO_API_KEY: Final = "not-needed"


class OpenAICompatibleResponder:
    """A `Responder` backed by a Chat Completions endpoint with tool calling."""

    name = tool_calls.NAME

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
        run = tool_calls.Conversation(
            known={s.article_id: s for s in request.sources}, customer=request.customer
        )
        deadline = asyncio.timeout(self.deadline_seconds)
        try:
            async with deadline:
                draft = await self._converse(request, tools, run)
        except TimeoutError:
            if not deadline.expired():
                raise
            failure = tool_calls.ResponderFailure(
                "deadline", f"no answer in {self.deadline_seconds}s"
            )
            return await self._fall_back(request, tools, run, failure)
        except tool_calls.ResponderFailure as failure:
            return await self._fall_back(request, tools, run, failure)
        return replace(
            draft,
            model=run.model or self.settings.llm_model,
            usage=self._usage(run),
            extra={**draft.extra, "llm": {"calls": run.calls, "tools": run.tools_called}},
        )

    # ---- the conversation --------------------------------------------------------------------

    async def _converse(
        self, request: ResponderInput, tools: ToolBox, run: tool_calls.Conversation
    ) -> Draft:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system_prompt},
            {"role": "user", "content": prompts.first_user_message(request)},
        ]
        for _ in range(self.max_turns):
            choice = tool_calls.first_choice(await self._complete(messages, run))
            calls = choice.message.tool_calls or []
            if not calls:
                return tool_calls.plain_text_answer(request, choice)
            messages.append(tool_calls.assistant_message(choice, run.calls))
            draft = await self._run_tools(calls, tools, run, messages, run.calls)
            if draft is not None:
                return draft
        raise tool_calls.ResponderFailure(
            "turn_limit", f"no answer after {self.max_turns} model calls"
        )

    async def _run_tools(
        self,
        calls: Sequence[Any],
        tools: ToolBox,
        run: tool_calls.Conversation,
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
            except tool_calls.BadCall as bad:
                if run.corrected:
                    raise tool_calls.ResponderFailure(bad.reason, str(bad)) from None
                corrected_now = True
                draft, result = (
                    None,
                    prompts.tool_error(f"{bad} Call the tool again with valid arguments."),
                )
            if draft is not None:
                return draft
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": tool_calls.call_id(call, turn, i),
                    "content": result,
                }
            )
        run.corrected = run.corrected or corrected_now
        return None

    async def _run_tool(
        self, call: Any, tools: ToolBox, run: tool_calls.Conversation
    ) -> tuple[Draft | None, str]:
        if not isinstance(call, ChatCompletionMessageFunctionToolCall):
            raise tool_calls.BadCall("unknown_tool", "Only function tools are available.")
        name, args = call.function.name, tool_calls.arguments(call.function.arguments)
        if name == prompts.SEND_RESPONSE:
            return tool_calls.answer(args, run), ""
        if name == prompts.ESCALATE_TO_HUMAN:
            return tool_calls.escalation_draft(args), ""
        try:
            if name == prompts.SEARCH_KNOWLEDGE_BASE:
                query = tool_calls.text_argument(args, "query", required=True)
                found = await tools.search_knowledge_base(query)
                run.learn(found[: prompts.SEARCH_RESULTS])
                return None, prompts.search_result(query, found)
            if name == prompts.GET_CUSTOMER_HISTORY:
                history = await tools.get_customer_history()
                return None, prompts.history_result(history, run.customer)
        except tool_calls.BadCall:
            raise
        except Exception as exc:
            log.exception("tool %s failed", name)
            raise tool_calls.ResponderFailure(
                "tool_error", f"{name}: {type(exc).__name__}"
            ) from exc
        raise tool_calls.BadCall("unknown_tool", f"There is no tool named {name!r}.")

    # ---- the endpoint ------------------------------------------------------------------------

    async def _complete(
        self, messages: list[dict[str, Any]], run: tool_calls.Conversation
    ) -> ChatCompletion:
        """One model call, retried on transient errors, each attempt through the breaker."""
        # Masked on the way out only: the run keeps the real text for the reply and the record.
        outgoing = redact_messages(messages) if self.settings.llm_redact else messages
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(endpoint_errors.is_transient),
                stop=self._stop,
                wait=self._wait,
                reraise=True,
            ):
                with attempt:
                    async with self.breaker.guard(endpoint_errors.endpoint_failed):
                        completion = await self._client.chat.completions.create(
                            model=self.settings.llm_model,
                            messages=cast(list[ChatCompletionMessageParam], outgoing),
                            tools=cast(list[ChatCompletionToolUnionParam], prompts.TOOLS),
                        )
        except Exception as exc:
            if not isinstance(exc, openai.OpenAIError | CircuitOpenError):
                log.exception("unexpected error calling the model")
            raise tool_calls.ResponderFailure(
                endpoint_errors.failure_reason(exc), endpoint_errors.describe(exc)
            ) from exc
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
        after = endpoint_errors.retry_after_seconds(exc)
        return after is not None and after > MAX_RETRY_AFTER_SECONDS

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = endpoint_errors.retry_after_seconds(exc)
        return after if after is not None else float(self._backoff(state))

    # ---- outcomes ----------------------------------------------------------------------------

    def _usage(self, run: tool_calls.Conversation) -> Usage:
        s = self.settings
        cost = (
            run.prompt_tokens * s.llm_input_cost_per_1k
            + run.completion_tokens * s.llm_output_cost_per_1k
        ) / 1000
        return Usage(run.prompt_tokens, run.completion_tokens, round(cost, 6))

    async def _fall_back(
        self,
        request: ResponderInput,
        tools: ToolBox,
        run: tool_calls.Conversation,
        failure: tool_calls.ResponderFailure,
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
