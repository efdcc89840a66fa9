"""The LLM responder against a local server speaking the Chat Completions wire format.

Everything goes through the real `openai` client over HTTP; the server is scripted per test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from fte.agent.responders.base import Draft, HistoryItem, ResponderInput, ToolBox
from fte.agent.responders.openai_compatible import OpenAICompatibleResponder
from fte.agent.retrieval import Source
from fte.kit.circuit_breaker import CircuitBreaker
from tests.conftest import make_settings
from tests.fixtures.fake_openai import (
    FakeOpenAI,
    Received,
    Reply,
    completion,
    error,
    hang,
    tool_call,
)
from tests.fixtures.processes import free_port

SYNC = Source(uuid.uuid4(), "Sync a folder", "Open Settings, then Folders, then Add folder.", 0.82)
SHARE = Source(uuid.uuid4(), "Share a file", "Right-click the file and choose Share link.", 0.55)
TWO_FA = Source(uuid.uuid4(), "Turn on two-factor", "Go to Security. " + "x" * 5000, 0.77)
SOURCES = [SYNC, SHARE]

HISTORY = [
    HistoryItem("inbound", "Ada", "My laptop stopped syncing.", 41, "2025-01-02T10:00:00+00:00"),
    HistoryItem("outbound", "agent", "Please restart the app.", 41, "2025-01-02T10:01:00+00:00"),
]


class FakeToolBox:
    """The tools, with canned answers; records what the model asked for."""

    def __init__(self, found: list[Source] | None = None):
        self.found = found or []
        self.queries: list[str] = []
        self.history_calls = 0

    async def search_knowledge_base(self, query: str) -> list[Source]:
        self.queries.append(query)
        return self.found

    async def get_customer_history(self) -> list[HistoryItem]:
        self.history_calls += 1
        return HISTORY


class FakeFallback:
    """Stands in for the local grounded responder."""

    name = "fake-local"

    def __init__(self) -> None:
        self.calls = 0

    async def respond(self, request: ResponderInput, tools: ToolBox) -> Draft:
        self.calls += 1
        return Draft(
            decision="answer",
            body="The local answer.",
            citations=request.sources[:1],
            model="local-grounded",
        )


def request_for(sources: list[Source] | None = None) -> ResponderInput:
    return ResponderInput(
        message="How do I sync a second folder?",
        subject="Syncing",
        customer_name="Ada Lovelace",
        channel="web_form",
        ticket_number=42,
        sources=SOURCES if sources is None else sources,
        threshold=0.4,
    )


def send_response(body: str, *sources: Source) -> dict[str, Any]:
    return tool_call(
        "send_response", {"body": body, "article_ids": [str(s.article_id) for s in sources]}
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server
    assert not server.unexpected, "the responder made requests the test did not script"


Factory = Callable[..., OpenAICompatibleResponder]


@pytest.fixture
async def make_responder(fake: FakeOpenAI) -> AsyncIterator[Factory]:
    """Build responders against the fake server; `env` overrides settings."""
    made: list[OpenAICompatibleResponder] = []

    def build(
        breaker: CircuitBreaker | None = None,
        base_url: str | None = None,
        deadline_seconds: float | None = None,
        **env: str,
    ) -> OpenAICompatibleResponder:
        settings = make_settings(
            **{
                "FTE_LLM_BASE_URL": base_url or fake.base_url,
                "FTE_LLM_API_KEY": "test-key",
                "FTE_LLM_MODEL": "test-model",
                "FTE_LLM_TIMEOUT_SECONDS": "2",
                "FTE_LLM_MAX_RETRIES": "2",
                "FTE_LLM_BREAKER_FAILURES": "5",
                "FTE_LLM_BREAKER_RESET_SECONDS": "30",
                "FTE_LLM_INPUT_COST_PER_1K": "0.5",
                "FTE_LLM_OUTPUT_COST_PER_1K": "1.5",
                **env,
            }
        )
        responder = OpenAICompatibleResponder(
            settings,
            FakeFallback(),
            breaker,
            backoff_seconds=0.02,
            deadline_seconds=deadline_seconds,
        )
        made.append(responder)
        return responder

    yield build
    for responder in made:
        await responder.aclose()


def tool_messages(received: Received) -> list[dict[str, Any]]:
    return [m for m in received.messages if m["role"] == "tool"]


# ---- conversations ---------------------------------------------------------------------------


async def test_tool_conversation_ends_in_a_cited_answer_with_summed_usage(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        completion(
            tool_calls=[tool_call("get_customer_history", "{}", "call_hist")],
            prompt_tokens=300,
            completion_tokens=15,
        ),
        completion(
            tool_calls=[
                send_response(
                    "**Open Settings**, then Folders, and choose Add folder.\n\nYou can share "
                    "files with a link too.",
                    SYNC,
                    SHARE,
                    SYNC,
                )
            ],
            prompt_tokens=700,
            completion_tokens=85,
        ),
    )
    tools = FakeToolBox()
    draft = await make_responder().respond(request_for(), tools)

    assert draft.decision == "answer"
    assert draft.fallback_reason is None
    assert draft.body == (
        "Open Settings, then Folders, and choose Add folder.\n\n"
        "You can share files with a link too."
    )
    assert draft.citations == [SYNC, SHARE]
    assert draft.model == "fake-model-2025-01-01"
    assert draft.usage is not None
    assert (draft.usage.prompt_tokens, draft.usage.completion_tokens) == (1000, 100)
    assert draft.usage.cost_usd == pytest.approx(1000 / 1000 * 0.5 + 100 / 1000 * 1.5)
    assert tools.history_calls == 1

    first, second = fake.requests
    assert first.headers["Authorization"] == "Bearer test-key"
    assert first.body["model"] == "test-model"
    assert {t["function"]["name"] for t in first.body["tools"]} == {
        "search_knowledge_base",
        "get_customer_history",
        "escalate_to_human",
        "send_response",
    }
    system, user = first.messages
    assert system["role"] == "system"
    for rule in (
        "only from the sources",
        "Never invent",
        "No Markdown",
        "Do not greet",
        "escalate_to_human",
    ):
        assert rule in system["content"]
    assert "How do I sync a second folder?" in user["content"]
    assert str(SYNC.article_id) in user["content"] and SHARE.title in user["content"]
    # The second call carries the model's own tool call and its result.
    assert second.messages[2]["tool_calls"][0]["id"] == "call_hist"
    (result,) = tool_messages(second)
    assert result["tool_call_id"] == "call_hist"
    assert "Please restart the app." in json.loads(result["content"])["messages"][1]["body"]


async def test_search_results_can_be_cited_and_bodies_are_truncated(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        completion(tool_calls=[tool_call("search_knowledge_base", {"query": "two factor"})]),
        completion(tool_calls=[send_response("Go to Security.", TWO_FA)]),
    )
    tools = FakeToolBox(found=[TWO_FA])
    draft = await make_responder().respond(request_for(), tools)

    assert tools.queries == ["two factor"]
    assert draft.decision == "answer"
    assert draft.citations == [TWO_FA]
    (result,) = tool_messages(fake.requests[1])
    (hit,) = json.loads(result["content"])["results"]
    assert hit["id"] == str(TWO_FA.article_id)
    assert hit["title"] == TWO_FA.title
    assert hit["confidence"] == 0.77
    assert 100 < len(hit["body"]) <= 1500


@pytest.mark.parametrize(
    ("given", "expected"), [("refund", "refund"), ("made_up", "low_confidence")]
)
async def test_escalate_to_human(
    fake: FakeOpenAI, make_responder: Factory, given: str, expected: str
) -> None:
    fake.script(
        completion(
            tool_calls=[
                tool_call(
                    "escalate_to_human", {"reason": given, "summary": "Wants money back for March."}
                )
            ]
        )
    )
    draft = await make_responder().respond(request_for(), FakeToolBox())

    assert draft.decision == "escalate"
    assert draft.reason == expected
    assert draft.summary == "Wants money back for March."
    assert draft.body is None and draft.citations == []
    assert draft.fallback_reason is None
    assert draft.usage is not None and draft.usage.prompt_tokens == 100


async def test_plain_text_reply_is_an_answer_citing_the_top_source(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(completion(content="Open Settings, then Folders."))
    draft = await make_responder().respond(request_for(), FakeToolBox())
    assert draft.decision == "answer"
    assert draft.body == "Open Settings, then Folders."
    assert draft.citations == [SYNC]
    assert draft.fallback_reason is None


async def test_plain_text_reply_without_sources_falls_back(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(completion(content="Probably fine, the app does that."))
    responder = make_responder()
    draft = await responder.respond(request_for(sources=[]), FakeToolBox())
    assert draft.fallback_reason == "uncited_answer"
    assert draft.model == "local-grounded"


# ---- guard rails ------------------------------------------------------------------------------


async def test_malformed_arguments_are_reported_to_the_model_once(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        completion(tool_calls=[tool_call("send_response", '{"body": "Open Settings", ')]),
        completion(tool_calls=[send_response("Open Settings, then Folders.", SYNC)]),
    )
    draft = await make_responder().respond(request_for(), FakeToolBox())

    assert draft.decision == "answer"
    assert draft.fallback_reason is None
    assert draft.citations == [SYNC]
    (result,) = tool_messages(fake.requests[1])
    assert "not valid JSON" in json.loads(result["content"])["error"]


async def test_malformed_arguments_twice_fall_back(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        completion(tool_calls=[tool_call("send_response", {"body": "Open Settings"})]),
        completion(tool_calls=[tool_call("search_knowledge_base", {"q": "sync"})]),
    )
    responder = make_responder()
    draft = await responder.respond(request_for(), FakeToolBox())

    assert draft.fallback_reason == "invalid_tool_arguments"
    assert draft.body == "The local answer."
    assert "article_ids" in json.loads(tool_messages(fake.requests[1])[0]["content"])["error"]
    assert responder.breaker.state == "closed"  # the endpoint is fine; the model is not
    # The tokens were billed even though the answer was not used.
    assert draft.usage is not None and draft.usage.prompt_tokens == 200


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"body": "Open Settings.", "article_ids": [str(uuid.uuid4())]}, "uncited_answer"),
        ({"body": "Open Settings.", "article_ids": ["article-1"]}, "uncited_answer"),
        ({"body": "Open Settings.", "article_ids": []}, "uncited_answer"),
        ({"body": "  ", "article_ids": [str(SYNC.article_id)]}, "empty_answer"),
    ],
)
async def test_answers_not_grounded_in_what_the_model_was_shown_fall_back(
    fake: FakeOpenAI, make_responder: Factory, arguments: dict[str, Any], reason: str
) -> None:
    fake.script(completion(tool_calls=[tool_call("send_response", arguments)]))
    draft = await make_responder().respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == reason
    assert draft.body == "The local answer."
    assert draft.extra["llm"]["model"] == "fake-model-2025-01-01"


async def test_turn_limit_falls_back(fake: FakeOpenAI, make_responder: Factory) -> None:
    fake.handler = lambda _: completion(
        tool_calls=[tool_call("search_knowledge_base", {"query": "sync"})]
    )
    tools = FakeToolBox(found=[SYNC])
    draft = await make_responder().respond(request_for(), tools)
    assert draft.fallback_reason == "turn_limit"
    assert len(fake.requests) == 5
    assert len(tools.queries) == 5


# ---- the endpoint failing ---------------------------------------------------------------------


async def test_rate_limit_is_retried_after_the_requested_wait(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        error(429, "Rate limit reached", headers={"Retry-After": "1"}),
        completion(tool_calls=[send_response("Open Settings.", SYNC)]),
    )
    responder = make_responder()
    draft = await responder.respond(request_for(), FakeToolBox())

    assert draft.decision == "answer" and draft.fallback_reason is None
    first, second = fake.requests
    assert second.at - first.at >= 0.95
    assert responder.breaker.state == "closed"
    assert responder.breaker.consecutive_failures == 0


async def test_rate_limit_asking_for_a_long_wait_falls_back_at_once(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(error(429, "Rate limit reached", headers={"Retry-After": "120"}))
    started = time.monotonic()
    draft = await make_responder().respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "rate_limited"
    assert len(fake.requests) == 1
    assert time.monotonic() - started < 2


async def test_server_errors_are_retried_then_fall_back_and_open_the_breaker(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.handler = lambda _: error(500, "The server had an error")
    responder = make_responder(FTE_LLM_BREAKER_FAILURES="4")
    draft = await responder.respond(request_for(), FakeToolBox())

    assert draft.fallback_reason == "server_error"
    assert draft.body == "The local answer."
    assert draft.model == "local-grounded"
    assert draft.usage is None  # nothing was billed
    assert len(fake.requests) == 3  # one attempt and FTE_LLM_MAX_RETRIES=2 retries
    assert responder.breaker.consecutive_failures == 3
    assert responder.breaker.state == "closed"

    # The next message opens the breaker on its first failure and stops retrying there.
    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "server_error"
    assert len(fake.requests) == 4
    assert responder.breaker.state == "open"

    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "breaker_open"
    assert len(fake.requests) == 4


async def test_timeout_falls_back(fake: FakeOpenAI, make_responder: Factory) -> None:
    fake.script(hang(), hang())
    responder = make_responder(FTE_LLM_TIMEOUT_SECONDS="0.3", FTE_LLM_MAX_RETRIES="1")
    started = time.monotonic()
    draft = await responder.respond(request_for(), FakeToolBox())

    assert draft.fallback_reason == "timeout"
    assert len(fake.requests) == 2
    assert responder.breaker.consecutive_failures == 2
    assert time.monotonic() - started < 3


async def test_unreachable_endpoint_falls_back(make_responder: Factory) -> None:
    responder = make_responder(
        base_url=f"http://127.0.0.1:{free_port()}/v1", FTE_LLM_MAX_RETRIES="0"
    )
    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "connection_error"


async def test_open_breaker_makes_no_request(fake: FakeOpenAI, make_responder: Factory) -> None:
    breaker = CircuitBreaker(1, 60.0, name="llm")
    breaker.record_failure()
    responder = make_responder(breaker)
    draft = await responder.respond(request_for(), FakeToolBox())

    assert draft.fallback_reason == "breaker_open"
    assert draft.body == "The local answer."
    assert fake.requests == []
    assert responder.breaker is breaker


async def test_half_open_probe_closes_the_breaker(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    now = [0.0]
    breaker = CircuitBreaker(1, 30.0, name="llm", clock=lambda: now[0])
    responder = make_responder(breaker, FTE_LLM_MAX_RETRIES="0")
    fake.script(error(503, "Overloaded"))
    assert (await responder.respond(request_for(), FakeToolBox())).fallback_reason == (
        "server_error"
    )
    assert breaker.state == "open"

    now[0] += 29
    assert (await responder.respond(request_for(), FakeToolBox())).fallback_reason == (
        "breaker_open"
    )
    assert len(fake.requests) == 1

    now[0] += 1
    assert breaker.state == "half_open"
    fake.script(completion(tool_calls=[send_response("Open Settings.", SYNC)]))
    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.decision == "answer" and draft.fallback_reason is None
    assert breaker.state == "closed"
    assert len(fake.requests) == 2


async def test_bad_request_does_not_count_against_the_breaker(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        Reply(
            status=400,
            body={"error": {"message": "context too long", "type": "invalid_request_error"}},
        )
    )
    responder = make_responder()
    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "client_error"
    assert len(fake.requests) == 1  # not retried
    assert responder.breaker.consecutive_failures == 0


async def test_garbage_from_the_endpoint_falls_back(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(Reply(raw="<html>Bad gateway</html>"))
    draft = await make_responder().respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "invalid_response"


async def test_overall_deadline_falls_back(fake: FakeOpenAI, make_responder: Factory) -> None:
    fake.script(hang())
    responder = make_responder(deadline_seconds=0.3, FTE_LLM_TIMEOUT_SECONDS="5")
    started = time.monotonic()
    draft = await responder.respond(request_for(), FakeToolBox())
    assert draft.fallback_reason == "deadline"
    assert time.monotonic() - started < 2
    assert responder.breaker.consecutive_failures == 0  # cancelled, not failed


async def test_unknown_tool_is_reported_to_the_model(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    fake.script(
        completion(tool_calls=[tool_call("issue_refund", {"amount": 100})]),
        completion(tool_calls=[send_response("Open Settings.", SYNC)]),
    )
    draft = await make_responder().respond(request_for(), FakeToolBox())
    assert draft.decision == "answer" and draft.fallback_reason is None
    (result,) = tool_messages(fake.requests[1])
    assert "issue_refund" in json.loads(result["content"])["error"]


class BrokenToolBox(FakeToolBox):
    async def search_knowledge_base(self, query: str) -> list[Source]:
        raise ConnectionResetError("database went away")


async def test_a_failing_tool_falls_back(fake: FakeOpenAI, make_responder: Factory) -> None:
    fake.script(completion(tool_calls=[tool_call("search_knowledge_base", {"query": "sync"})]))
    draft = await make_responder().respond(request_for(), BrokenToolBox())
    assert draft.fallback_reason == "tool_error"


async def test_the_model_is_shown_the_section_that_answers_not_the_whole_article(
    fake: FakeOpenAI, make_responder: Factory
) -> None:
    body = (
        "# Resetting your password\n\nReset it from the sign-in page; see the end of this "
        "article to change a password you know.\n\n"
        "## Reset a forgotten password\n\n1. Click Forgot password?\n2. Follow the link.\n\n"
        "## The reset email doesn't arrive\n\n- Check your spam or junk folder.\n\n"
        "## Changing your password\n\nGo to Settings, then Security."
    )
    passage = "Resetting your password\n\n## The reset email doesn't arrive\n\n- Check your spam"
    reset = Source(uuid.uuid4(), "Resetting your password", body, 0.7, passage=passage)
    fake.script(completion(content="Check your spam or junk folder."))
    request = ResponderInput(
        message="I clicked reset but no email came",
        subject=None,
        customer_name="Ada",
        channel="web_form",
        ticket_number=7,
        sources=[reset],
        threshold=0.45,
    )
    await make_responder().respond(request, FakeToolBox())
    shown = next(m["content"] for m in fake.requests[0].messages if m["role"] == "user")
    assert "section: The reset email doesn't arrive" in shown
    assert "- Check your spam or junk folder." in shown
    assert "Click Forgot password?" not in shown and "Go to Settings" not in shown
    assert "see the end of this article" not in shown
