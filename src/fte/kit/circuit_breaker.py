"""A circuit breaker: stop calling a dependency that keeps failing, probe it again later.

closed ──N consecutive failures──▶ open ──reset time passes──▶ half_open
half_open: one probe call goes through; success ▶ closed, failure ▶ open (the clock restarts).

Callers decide what a failure is (`guard(is_failure=...)`): an endpoint that answered "bad
request" is up, one that timed out is not. Transitions hold a thread lock and never await, so
one breaker can be shared by the tasks of an event loop (and by threads).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

log = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]


class CircuitOpenError(Exception):
    """The breaker refused the call: the dependency failed recently and is not probed yet."""

    def __init__(self, name: str, retry_in: float):
        super().__init__(f"circuit {name!r} is open; next probe in {retry_in:.1f}s")
        self.name = name
        self.retry_in = retry_in


def _always(_: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Counts consecutive failures of one dependency and refuses calls while it is open."""

    def __init__(
        self,
        failure_threshold: int,
        reset_seconds: float,
        *,
        name: str = "circuit",
        clock: Callable[[], float] = time.monotonic,
    ):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    # ---- reading -----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """'closed', 'open', or 'half_open' (the reset time has passed: the next call probes)."""
        with self._lock:
            return self._current_state()

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    @property
    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it is not open)."""
        with self._lock:
            if self._current_state() != "open":
                return 0.0
            return max(0.0, self._opened_at + self.reset_seconds - self._clock())

    def snapshot(self) -> dict[str, object]:
        """The state for health checks and metrics."""
        return {
            "name": self.name,
            "state": self.state,
            "consecutive_failures": self._failures,
            "retry_in_seconds": round(self.retry_in, 3),
        }

    # ---- calling -----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """True if a call may go ahead now. In half_open this reserves the single probe: the
        caller must then report `record_success`, `record_failure` or `release`."""
        with self._lock:
            state = self._current_state()
            if state == "closed":
                return True
            if state == "open" or self._probe_in_flight:
                return False
            self._state = "half_open"
            self._probe_in_flight = True
            return True

    def record_success(self) -> None:
        """The dependency worked: close the breaker."""
        with self._lock:
            previous = self._current_state()
            self._failures = 0
            self._probe_in_flight = False
            if previous == "open":
                # A call admitted before the breaker opened came back late; the probe decides.
                return
            self._set("closed")

    def record_failure(self) -> None:
        """The dependency failed: count it, and open the breaker at the threshold."""
        with self._lock:
            state = self._current_state()
            self._failures += 1
            if state == "half_open":
                self._probe_in_flight = False
                self._open()
            elif state == "closed" and self._failures >= self.failure_threshold:
                self._open()

    def release(self) -> None:
        """The call ended without telling anything about the dependency (e.g. cancelled)."""
        with self._lock:
            self._probe_in_flight = False

    @asynccontextmanager
    async def guard(
        self, is_failure: Callable[[BaseException], bool] = _always
    ) -> AsyncIterator[None]:
        """Run the block if the breaker allows it (else raise `CircuitOpenError`) and record
        its outcome; exceptions for which `is_failure` is False count as a success."""
        if not self.try_acquire():
            raise CircuitOpenError(self.name, self.retry_in)
        try:
            yield
        except Exception as exc:
            if is_failure(exc):
                self.record_failure()
            else:
                self.record_success()
            raise
        except BaseException:
            self.release()
            raise
        self.record_success()

    # ---- internals (lock held) -----------------------------------------------------------------

    def _current_state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return self._state

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set("open")

    def _set(self, state: State) -> None:
        if state != self._state:
            level = logging.WARNING if state == "open" else logging.INFO
            log.log(
                level,
                "circuit %s: %s -> %s (%d consecutive failures)",
                self.name,
                self._state,
                state,
                self._failures,
            )
            self._state = state
