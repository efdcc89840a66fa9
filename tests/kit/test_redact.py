"""Personal data masked where it must not go: every log line a process writes, and, with
FTE_LLM_REDACT=true, the request body an OpenAI-compatible endpoint receives."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from typing import Any

from fte.agent.responders.base import HistoryItem, ResponderInput
from fte.agent.responders.openai_compatible import OpenAICompatibleResponder
from fte.kit.redact import luhn_ok, redact
from tests.agent.test_openai_compatible import SYNC, FakeFallback, FakeToolBox, send_response
from tests.conftest import make_settings
from tests.fixtures.fake_openai import FakeOpenAI, completion, tool_call

CARD = "4111 1111 1111 1111"  # a test Visa number: passes Luhn


def test_emails_phones_and_luhn_valid_cards_are_masked() -> None:
    said = redact(
        "Ana <ana.p+shop@mail.example.co.uk> paid with 4111-1111-1111-1111 and 5500005555555559,"
        " call +44 20 7946 0958 or (555) 010-0199 or +15550100199."
    )
    assert said == (
        "Ana <[email]> paid with [card] and [card], call [phone] or [phone] or [phone]."
    )


def test_what_is_not_personal_data_stays_readable() -> None:
    ticket = uuid.UUID("12345678-1234-5678-1234-567812345678")
    kept = (
        f"ticket {ticket} order 1234567890123 (fails Luhn) on 2026-12-03 15:43:26 from "
        "10.0.0.12 took 412.5 ms, 4111 1111 1111 1112, #4211"
    )
    assert not luhn_ok("1234567890123")
    assert redact(kept) == kept


def test_every_log_line_of_a_process_is_masked_text_and_json() -> None:
    script = textwrap.dedent(
        f"""
        import logging, sys
        from fte.kit.logging import configure
        configure("INFO", "api", sys.argv[1])
        log = logging.getLogger("uvicorn.error")  # not ours: every logger's records
        log.info("reply to %s about card %s", "ana@example.com", "{CARD}")
        try:
            raise ValueError("no account for +15550100199")
        except ValueError:
            log.exception("lookup failed")
        """
    )
    for log_format in ("text", "json"):
        run = subprocess.run(
            [sys.executable, "-c", script, log_format],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        err = run.stderr
        assert "ana@example.com" not in err and "4111" not in err and "5550100" not in err
        assert "reply to [email] about card [card]" in err
        assert "ValueError: no account for [phone]" in err
        if log_format == "json":
            lines = [json.loads(line) for line in err.splitlines()]
            assert lines[1]["error"].endswith("ValueError: no account for [phone]")


class HistoryWithEmail(FakeToolBox):
    """The customer's history holds their email, as a real one would."""

    async def get_customer_history(self) -> list[HistoryItem]:
        return [HistoryItem("inbound", "Ana", "Write to ana@example.com", 41, "2025-01-02")]


async def _ask_model(fake: FakeOpenAI, redact_setting: str) -> list[dict[str, Any]]:
    """One conversation: the model reads the customer's history, then answers."""
    fake.script(
        completion(tool_calls=[tool_call("get_customer_history", "{}", "call_hist")]),
        completion(tool_calls=[send_response("Open Settings, then Folders.", SYNC)]),
    )
    settings = make_settings(
        FTE_LLM_BASE_URL=fake.base_url,
        FTE_LLM_API_KEY="test-key",
        FTE_LLM_MODEL="test-model",
        FTE_LLM_REDACT=redact_setting,
    )
    responder = OpenAICompatibleResponder(settings, FakeFallback(), backoff_seconds=0.02)
    tools = HistoryWithEmail()
    request = ResponderInput(
        message=f"I'm ana@example.com, card {CARD}, phone +15550100199: sync fails",
        subject="Syncing",
        customer_name="Ana",
        channel="web_form",
        ticket_number=42,
        sources=[SYNC],
        threshold=0.4,
    )
    try:
        draft = await responder.respond(request, tools)
    finally:
        await responder.aclose()
    assert draft.decision == "answer" and draft.body.startswith("Open Settings")
    return [r.body for r in fake.requests]


async def test_with_llm_redact_the_endpoint_never_receives_personal_data() -> None:
    async with FakeOpenAI() as fake:
        bodies = await _ask_model(fake, "true")
    sent = json.dumps(bodies)
    assert len(bodies) == 2
    assert "ana@example.com" not in sent and "4111" not in sent and "5550100199" not in sent
    assert "[email]" in json.dumps(bodies[0]["messages"])  # the customer's message
    tool_results = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert "[email]" in json.dumps(tool_results)  # the history the model asked for


async def test_without_it_the_prompt_is_sent_as_written() -> None:
    async with FakeOpenAI() as fake:
        bodies = await _ask_model(fake, "false")
    assert "ana@example.com" in json.dumps(bodies[0])
