"""What became of a job, and the one retry policy.

A pipeline (answers, deliveries, learning, article embedding) takes a batch of jobs and returns
one outcome per job; a driver (the PostgreSQL queue's worker, the Kafka worker) acknowledges
each outcome its own way: the queue releases a row for later, Kafka keeps the record in hand
and tries it again in place. Neither decides when to retry or to give up: `RetryPolicy` does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fte.agent.runner import MessageContext
from fte.bus import postgres_queue as queue
from fte.config import Settings
from fte.kit import backoff
from fte.kit.ordered import in_order_per_key

T = TypeVar("T")

# The reason given to a job held back behind an earlier job of its conversation that failed.
WAITING = "waits for an earlier message of its conversation"


@dataclass(frozen=True)
class Done:
    """Finished, its effects committed with the job's completion (or nothing to do)."""


@dataclass(frozen=True)
class RetryAt:
    """Try again in `after_seconds`. `attempt` is False when the job did not run (its
    channel's circuit is open, or an earlier job of its conversation failed): the try is not
    counted against its attempts."""

    after_seconds: float
    error: str
    attempt: bool = True


@dataclass(frozen=True)
class DeadLetter:
    """Give up: a dead letter; `ctx`, when the failed job's message was loaded already."""

    error: str
    ctx: MessageContext | None = None


Outcome = Done | RetryAt | DeadLetter
DONE = Done()
# A pipeline: a batch of jobs in, one outcome per job out, in the same order.
Pipeline = Callable[[list[queue.Job]], Awaitable[list[Outcome]]]


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a job gets, and how long it waits between them: 2^attempt seconds
    with full jitter, at most the cap."""

    max_attempts: int
    backoff_cap_seconds: float = 300.0

    @classmethod
    def for_jobs(cls, settings: Settings) -> RetryPolicy:
        """Customer messages, learning and article embedding."""
        return cls(settings.worker_max_attempts, settings.worker_backoff_cap_seconds)

    @classmethod
    def for_deliveries(cls, settings: Settings) -> RetryPolicy:
        """Replies to send."""
        return cls(settings.delivery_max_attempts)

    def backoff_seconds(self, attempt: int) -> float:
        """Before the attempt after `attempt`."""
        return backoff.delay(attempt, 2.0, self.backoff_cap_seconds)

    def after_failure(
        self,
        job: queue.Job,
        error: str,
        ctx: MessageContext | None = None,
        *,
        final: bool = False,
    ) -> RetryAt | DeadLetter:
        """The job's attempt number `job.attempts` failed: retry later, or (after the last
        attempt, or `final`: no retry can help) a dead letter."""
        if final or job.attempts >= self.max_attempts:
            return DeadLetter(error, ctx)
        return RetryAt(self.backoff_seconds(job.attempts), error)


async def in_order_per_conversation(
    items: Sequence[T],
    job_of: Callable[[T], queue.Job],
    handle: Callable[[T], Awaitable[Outcome]],
    limit: int,
) -> list[Outcome]:
    """Each item's outcome, in the items' order: conversations side by side, each one's items
    in order; behind an item that did not finish, its conversation's later items wait (a
    claim holds one job per conversation, a Kafka batch may hold several)."""
    outcomes: list[Outcome | None] = [None] * len(items)
    stalled: set[str] = set()

    async def one(indexed: tuple[int, T]) -> None:
        i, item = indexed
        key = job_of(item).key
        if key in stalled:
            outcomes[i] = RetryAt(0.0, WAITING, attempt=False)
            return
        outcome = outcomes[i] = await handle(item)
        if not isinstance(outcome, Done):
            stalled.add(key)

    await in_order_per_key(list(enumerate(items)), lambda x: job_of(x[1]).key, one, limit)
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(items)  # in_order_per_key raises unless every item was handled
    return done
