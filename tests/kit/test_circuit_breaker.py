"""The circuit breaker's states, driven by an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from fte.kit.circuit_breaker import CircuitBreaker, CircuitOpenError
from tests.fixtures.waiting import eventually


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Boom(Exception):
    pass


async def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(Boom):
        async with breaker.guard():
            raise Boom


async def succeed(breaker: CircuitBreaker) -> None:
    async with breaker.guard():
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(3, 30.0, name="test", clock=clock)


async def test_opens_after_consecutive_failures_only(breaker: CircuitBreaker) -> None:
    await fail(breaker)
    await fail(breaker)
    await succeed(breaker)  # a success in between resets the count
    assert breaker.consecutive_failures == 0
    await fail(breaker)
    await fail(breaker)
    assert breaker.state == "closed"
    await fail(breaker)
    assert breaker.state == "open"
    assert breaker.consecutive_failures == 3


async def test_open_breaker_refuses_without_running_the_block(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        await fail(breaker)
    clock.now += 10
    ran = False
    with pytest.raises(CircuitOpenError) as refused:
        async with breaker.guard():
            ran = True
    assert not ran
    assert refused.value.retry_in == pytest.approx(20.0)
    assert breaker.snapshot() == {
        "name": "test",
        "state": "open",
        "consecutive_failures": 3,
        "retry_in_seconds": 20.0,
    }


async def test_half_open_lets_one_probe_through_and_success_closes(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        await fail(breaker)
    clock.now += 30
    assert breaker.state == "half_open"
    assert breaker.retry_in == 0.0
    assert breaker.try_acquire()  # the probe
    assert not breaker.try_acquire()  # everyone else waits for its outcome
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 0
    assert breaker.try_acquire()


async def test_failed_probe_opens_again_for_a_full_reset_period(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        await fail(breaker)
    clock.now += 31
    await fail(breaker)  # the probe
    assert breaker.state == "open"
    clock.now += 29
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.state == "half_open"


async def test_only_one_of_many_concurrent_callers_probes(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        await fail(breaker)
    clock.now += 30
    entered = 0
    release = asyncio.Event()

    async def call() -> str:
        nonlocal entered
        try:
            async with breaker.guard():
                entered += 1
                await release.wait()
        except CircuitOpenError:
            return "refused"
        return "probed"

    tasks = [asyncio.create_task(call()) for _ in range(5)]

    def one_in_four_refused() -> bool:
        return entered == 1 and sum(t.done() for t in tasks) == 4

    await eventually(one_in_four_refused, 5, "one probe let in, four refused")
    release.set()
    results = await asyncio.gather(*tasks)
    assert entered == 1
    assert sorted(results) == ["probed"] + ["refused"] * 4
    assert breaker.state == "closed"


async def test_cancelled_probe_frees_the_slot_without_counting(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    for _ in range(3):
        await fail(breaker)
    clock.now += 30

    inside = asyncio.Event()

    async def probe() -> None:
        async with breaker.guard():
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(probe())
    await asyncio.wait_for(inside.wait(), 5)
    assert not breaker.try_acquire()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == "half_open"
    assert breaker.consecutive_failures == 3
    await succeed(breaker)
    assert breaker.state == "closed"


async def test_errors_the_caller_does_not_count_prove_the_dependency_is_up(
    breaker: CircuitBreaker,
) -> None:
    await fail(breaker)
    await fail(breaker)
    with pytest.raises(ValueError):
        async with breaker.guard(is_failure=lambda exc: not isinstance(exc, ValueError)):
            raise ValueError("bad request")
    assert breaker.consecutive_failures == 0
    assert breaker.state == "closed"


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 10)
    with pytest.raises(ValueError):
        CircuitBreaker(1, 0)
