"""The outbox relay's loop survives any outage: it backs off, and never dies of it."""

from __future__ import annotations

import asyncio

import asyncpg

from fte.bus import kafka
from fte.worker.relay import Relay
from tests.conftest import make_settings


class FlakyRelay(Relay):
    """A broker away for `outage` publishes, while new rows keep arriving (each call sets the
    wake event, as LISTEN/NOTIFY does under load); then one publish succeeds."""

    def __init__(self, pool: asyncpg.Pool, outage: int, wake: asyncio.Event):
        super().__init__(pool, make_settings(FTE_BUS="kafka"))
        self.outage = outage
        self.wake = wake
        self.calls = 0
        self.published = asyncio.Event()

    async def relay_once(self) -> int:
        self.calls += 1
        self.wake.set()
        if self.calls <= self.outage:
            raise kafka.KafkaUnavailable("broker away")
        self.published.set()
        return 0


async def test_the_relay_survives_thousands_of_failed_publishes(pool: asyncpg.Pool) -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    relay = FlakyRelay(pool, outage=2_000, wake=wake)
    relay.retry_cap_seconds = 0.0001  # the loop's logic, not its patience, is under test
    task = asyncio.create_task(relay.run(stop, wake))
    await asyncio.wait(
        [task, asyncio.create_task(relay.published.wait())],
        timeout=60,
        return_when=asyncio.FIRST_COMPLETED,
    )
    assert relay.published.is_set(), f"relay gave up after {relay.calls} calls: {task!r}"
    assert not task.done()  # still relaying
    stop.set()
    await asyncio.wait_for(task, 10)
    assert relay.calls == 2_001


async def test_new_rows_do_not_cut_the_backoff_short(pool: asyncpg.Pool) -> None:
    """During an outage, arriving rows (the wake event) must not turn the backoff into a busy
    loop: that is how 1,024 failures were reached in under a second."""
    stop, wake = asyncio.Event(), asyncio.Event()
    relay = FlakyRelay(pool, outage=10**9, wake=wake)
    task = asyncio.create_task(relay.run(stop, wake))
    await asyncio.sleep(2.0)  # a window to count retries in
    stop.set()
    await asyncio.wait_for(task, 10)
    # 0.25 s, 0.5 s, 1 s, 2 s ceilings with full jitter: a handful, never hundreds.
    assert 2 <= relay.calls <= 30, relay.calls
