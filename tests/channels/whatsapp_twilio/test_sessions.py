"""Refused Twilio calls leave nothing open: every call's HTTP session is closed, however the
call ends (each once leaked an aiohttp session: "Unclosed client session" per refused call)."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from fte.channels.whatsapp_twilio.adapter import WhatsAppAdapter
from fte.messaging import ChannelUnavailable, OutboundMessage
from tests.channels.whatsapp_twilio.test_whatsapp import twilio_settings
from tests.fixtures.fake_twilio import FakeTwilio

TOKEN = "twilio-auth-token"


def reply(n: int) -> OutboundMessage:
    return OutboundMessage(
        message_id=f"m{n}", channel="whatsapp", body="hello", to="whatsapp:+447700900123"
    )


async def _send_all(adapter: WhatsAppAdapter, calls: int) -> list[type[Exception] | None]:
    """Each call's outcome; the exception's type only, as holding the exception would hold its
    frames, and an unclosed session with them, out of the collector's reach."""
    outcomes: list[type[Exception] | None] = []
    for n in range(calls):
        try:
            await adapter.send(reply(n))
            outcomes.append(None)
        except Exception as exc:
            outcomes.append(type(exc))
    return outcomes


def _leaks(caught: list[warnings.WarningMessage], reported: list[dict[str, Any]]) -> list[str]:
    texts = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    texts += [str(ctx.get("message")) for ctx in reported]
    return [t for t in texts if "Unclosed" in t]


@pytest.mark.parametrize("outcome", ["refused", "500", "accepted"])
async def test_twilio_calls_close_their_http_session(outcome: str) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: reported.append(ctx))
    async with FakeTwilio("AC" + "a" * 32, TOKEN) as fake:
        if outcome == "refused":
            settings = twilio_settings()  # nothing listens there: connection refused
        else:
            fake.down = outcome == "500"
            settings = twilio_settings(fake)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcomes = await _send_all(WhatsAppAdapter(settings), 5)
            gc.collect()  # an unclosed session says so when it is collected
            await asyncio.sleep(0)
    loop.set_exception_handler(None)
    if outcome == "accepted":
        assert outcomes == [None] * 5
    else:
        assert outcomes == [ChannelUnavailable] * 5
    assert _leaks(caught, reported) == []
