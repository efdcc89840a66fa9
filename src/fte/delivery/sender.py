"""Sending one message through its adapter: quick retries with exponential backoff, guarded by
one circuit breaker per channel."""

from __future__ import annotations

import asyncio

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from fte.config import Settings
from fte.kit.circuit_breaker import CircuitBreaker
from fte.messaging import (
    ChannelAdapter,
    ChannelUnavailable,
    DeliveryReceipt,
    OutboundMessage,
)


def _provider_down(exc: BaseException) -> bool:
    # A refused message or bad credentials say nothing about the provider being down.
    return isinstance(exc, ChannelUnavailable | TimeoutError)


class Sender:
    """Holds the breakers, so every delivery of a process shares them."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, channel: str) -> CircuitBreaker:
        """The channel's breaker, created on first use."""
        if channel not in self.breakers:
            self.breakers[channel] = CircuitBreaker(
                self.settings.delivery_breaker_failures,
                self.settings.delivery_breaker_reset_seconds,
                name=f"deliver:{channel}",
            )
        return self.breakers[channel]

    async def send(self, adapter: ChannelAdapter, message: OutboundMessage) -> DeliveryReceipt:
        """Send, retrying transient failures; raises the last error (or CircuitOpenError)."""
        breaker = self.breaker(adapter.name)
        base = self.settings.delivery_backoff_seconds
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.delivery_quick_retries),
            wait=wait_exponential(multiplier=base, min=base, max=base * 8),
            # Once the breaker has opened, waiting here is pointless: the queue retries later.
            retry=retry_if_exception(lambda e: _provider_down(e) and breaker.state == "closed"),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with breaker.guard(is_failure=_provider_down):
                    return await asyncio.wait_for(
                        adapter.send(message), timeout=self.settings.delivery_timeout_seconds
                    )
        raise AssertionError("unreachable: tenacity reraises the last error")
