"""The worker loop: claim inbound jobs, run the agent, commit the outcome with the job."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import numpy as np
import numpy.typing as npt

from fte.agent import repository as runs
from fte.agent.embeddings import TextEmbedder
from fte.agent.learning import LEARN_TOPIC, learn_from_ticket
from fte.agent.responders.base import Responder
from fte.agent.retrieval import Source, retrieve
from fte.agent.runner import Agent, MessageContext
from fte.agent.service import (
    commit_decision,
    count_decision,
)
from fte.bus import postgres_queue as queue
from fte.bus.dead_letters import error_text
from fte.channels.base import ChannelAdapter
from fte.config import Settings
from fte.db import asyncpg_dsn, connection, transaction
from fte.errors import ServiceUnavailable
from fte.kit import backoff
from fte.kit import logging as trace
from fte.kit.ordered import in_order_per_key
from fte.kit.tasks import Watchdog
from fte.knowledge.editor import KB_EMBED_TOPIC, embed_article
from fte.knowledge.repository import mark_embedding_failed
from fte.tickets import repository as tickets
from fte.worker import dead_letter as dead_letters

if TYPE_CHECKING:
    from fte.agent.sentiment import SentimentResult
    from fte.agent.sentiment_cache import SentimentSource
    from fte.worker.delivery_consumer import DeliveryWorker

log = logging.getLogger(__name__)

TOPIC = "inbound"
ANSWER_LANES = 2
# What a lost database looks like from here: wait and try again, never crash the worker.
# ServiceUnavailable: `transaction()` found no connection to acquire.
DB_DOWN = (
    ServiceUnavailable,
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    TimeoutError,
)


def worker_id() -> str:
    """host:pid, stored on claims and agent runs so an operator can tell workers apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempt: int, cap: float = 300.0) -> float:
    """Before a job's next attempt: 2^attempt seconds with full jitter, at most `cap`."""
    return backoff.delay(attempt, 2.0, cap)


@dataclass(frozen=True)
class Prepared:
    """A job with its message loaded, embedded and its articles retrieved: ready for the
    agent's decision."""

    job: queue.Job
    ctx: MessageContext
    vector: npt.NDArray[np.float32]
    # What retrieval found and whether the customer had the best article already, or how
    # looking them up failed for this message.
    found: tuple[list[Source], bool] | Exception
    sentiment: SentimentResult | None
    shared_ms: float  # its share of the batch's time to embed and look up
    # (customer, article) answered by this batch so far, shared by its messages: Kafka hands
    # over a conversation's messages together, and the first one's answer is not yet in the
    # database when the batch is looked up.
    batch_answers: set[tuple[uuid.UUID, uuid.UUID]]


class AgentWorker:
    """Consumes the `inbound` topic of the PostgreSQL queue."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        embedder: TextEmbedder,
        adapters: dict[str, ChannelAdapter],
        name: str | None = None,
        responder: Responder | None = None,
        sentiment: SentimentSource | None = None,
        delivery: DeliveryWorker | None = None,
    ):
        self.pool = pool
        self.settings = settings
        self.embedder = embedder
        self.adapters = adapters
        self.name = name or worker_id()
        self.agent = Agent(settings, embedder, responder, pool)
        self.sentiment = sentiment
        self.delivery = delivery
        self._wake = asyncio.Event()

    async def warm_up(self) -> None:
        """Load the models now, so the first message does not wait for them."""
        await asyncio.to_thread(self.embedder.embed, ["warm up"])
        if self.sentiment is not None:
            with contextlib.suppress(*DB_DOWN, asyncpg.PostgresError):
                await self.sentiment.current(self.pool)
        with contextlib.suppress(*DB_DOWN, asyncpg.PostgresError):
            await self.agent.calibration.warm(self.pool)
        # What is loaded by now (torch, the models, the libraries) lives as long as the
        # process: out of the garbage collector's sight, its full collections no longer walk
        # those millions of objects (they took about a tenth of the worker's Python time).
        gc.freeze()

    async def run(self, stop: asyncio.Event, database_url: str) -> None:
        """Work until `stop` is set; the batches in hand are finished first."""
        await self.warm_up()
        watchdog = Watchdog(stop)
        watchdog.spawn(self._listen(database_url, stop), "listen")
        log.info("worker %s started", self.name)
        # Two batches in flight: one is embedded while the other's outcomes are written, or both
        # are embedded at once by two embedding processes. The claim hands out only a
        # conversation's oldest open message, so they never overlap.
        lanes = [self._lane(stop, self.run_once) for _ in range(ANSWER_LANES)]
        if self.delivery is not None:
            lanes.append(self._lane(stop, self.delivery.run_once))
        try:
            await asyncio.gather(*lanes)
        finally:
            await watchdog.close(cancel=True)
            log.info("worker %s stopped", self.name)
        watchdog.check()

    async def _lane(self, stop: asyncio.Event, step: Callable[[], Awaitable[int]]) -> None:
        """Repeat `step` (claim and handle a batch) until stopped; idle until woken when there
        was nothing to do; wait and try again while the database is away."""
        failures = 0
        while not stop.is_set():
            try:
                handled = await step()
                failures = 0
            except DB_DOWN as exc:
                failures += 1
                log.warning("database unavailable (%s); retrying", type(exc).__name__)
                await _sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
                continue
            except Exception:
                # A fault not foreseen must not take the worker down (and `fte up` with it):
                # the batch's leases expire, its jobs are claimed again and, after their last
                # attempt, handed to a person.
                failures += 1
                log.exception("a batch failed unexpectedly; going on")
                await _sleep_or_stop(stop, backoff.delay(failures, 0.5, 10.0))
                continue
            if handled == 0:
                self._wake.clear()
                await _first_of(stop, self._wake, self.settings.worker_poll_seconds)

    async def run_once(self) -> int:
        """Claim and handle one batch of each topic; the number of jobs claimed."""
        return await self._answer_batch() + await self._learn_batch() + await self._kb_batch()

    async def _claim(self, topic: str) -> list[queue.Job]:
        """A batch of the topic's ready jobs, leased to this worker (one statement: atomic
        without a transaction)."""
        async with connection(self.pool) as conn:
            return await queue.claim(
                conn,
                topic,
                self.name,
                self.settings.worker_batch_size,
                self.settings.worker_lease_seconds,
            )

    async def _kb_batch(self) -> int:
        """Re-embed articles edited in the console (`kb_embed` jobs)."""
        jobs = await self._claim(KB_EMBED_TOPIC)
        for job in jobs:
            article_id = uuid.UUID(job.payload["article_id"])
            try:
                async with transaction(self.pool) as conn:
                    stored = await embed_article(
                        conn, article_id, job.payload["content_hash"], self.embedder
                    )
                    await queue.complete(conn, job.id)
                log.info("article %s %s", article_id, "embedded" if stored else "changed; skipped")
            except DB_DOWN:
                raise
            except Exception as exc:
                await self._retry_or_dead_letter(job, exc, None)
                if job.attempts >= self.settings.worker_max_attempts:
                    async with transaction(self.pool) as conn:
                        await mark_embedding_failed(conn, article_id, str(exc))
        return len(jobs)

    async def _learn_batch(self) -> int:
        jobs = await self._claim(LEARN_TOPIC)
        for job in jobs:
            try:
                async with transaction(self.pool) as conn:
                    added = await learn_from_ticket(
                        conn, uuid.UUID(job.payload["ticket_id"]), self.embedder
                    )
                    await queue.complete(conn, job.id)
                log.info(
                    "learnt %d example(s) from resolved ticket %s", added, job.payload["ticket_id"]
                )
            except DB_DOWN:
                raise
            except Exception as exc:
                await self._retry_or_dead_letter(job, exc, None)
        return len(jobs)

    async def _answer_batch(self) -> int:
        jobs = await self._claim(TOPIC)
        if not jobs:
            return 0
        live = []
        for job in jobs:
            if job.attempts > self.settings.worker_max_attempts:
                await self._dead_letter(
                    job,
                    f"abandoned after {job.attempts - 1} attempts "
                    "(worker lost or timed out each time)",
                )
            else:
                live.append(job)
        await self.answer(live)
        return len(jobs)

    async def answer(self, jobs: list[queue.Job]) -> None:
        """Run the agent on these jobs (embeddings in one batch), committing each outcome."""
        await self.answer_prepared(await self.prepare(jobs))

    async def prepare(self, jobs: list[queue.Job]) -> list[Prepared]:
        """Load the jobs' messages, embed them, read their sentiment, retrieve their articles
        and check whether each customer had the best one already, each step once for the
        batch; jobs with nothing to answer are completed and left out."""
        contexts = await self._load(jobs)
        if not contexts:
            return []
        started = time.perf_counter()
        vectors = await asyncio.to_thread(self.embedder.embed, [ctx.query for _, ctx in contexts])
        feelings = await self._sentiments([ctx.body for _, ctx in contexts], vectors)
        found = await self._look_up(vectors, [ctx for _, ctx in contexts])
        # Each message is charged its share of the batch's time.
        shared_ms = (time.perf_counter() - started) * 1000 / len(contexts)
        batch_answers: set[tuple[uuid.UUID, uuid.UUID]] = set()
        return [
            Prepared(job, ctx, vector, looked_up, feeling, shared_ms, batch_answers)
            for (job, ctx), vector, looked_up, feeling in zip(
                contexts, vectors, found, feelings, strict=True
            )
        ]

    async def _look_up(
        self, vectors: npt.NDArray[np.float32], contexts: list[MessageContext]
    ) -> list[tuple[list[Source], bool] | Exception]:
        """Each message's articles and whether its customer had the best one already: in one
        go for the batch; if that fails, one message at a time, so that a failure is each
        message's own (retried, then a dead letter) and one message cannot fail the others."""
        async with connection(self.pool) as conn:
            try:
                return list(await self._look_up_batch(conn, vectors, contexts))
            except DB_DOWN:
                raise
            except Exception as exc:
                log.warning("looking up a batch failed (%r); now message by message", exc)
            found: list[tuple[list[Source], bool] | Exception] = []
            for i, ctx in enumerate(contexts):
                try:
                    found.extend(await self._look_up_batch(conn, vectors[i : i + 1], [ctx]))
                except DB_DOWN:
                    raise
                except Exception as exc:
                    found.append(exc)
            return found

    async def _look_up_batch(
        self,
        conn: asyncpg.Connection,
        vectors: npt.NDArray[np.float32],
        contexts: list[MessageContext],
    ) -> list[tuple[list[Source], bool]]:
        s = self.settings
        queries = [ctx.query for ctx in contexts]
        found = await retrieve(conn, vectors, queries, s.retrieval_top_k, s.text_search_weight)
        best = [
            (ctx.customer_id, ctx.message_id, sources[0].article_id)
            for ctx, sources in zip(contexts, found, strict=True)
            if sources
        ]
        answered = await runs.answered_before(conn, best, s.repeat_contact_days)
        return [
            (sources, ctx.message_id in answered)
            for ctx, sources in zip(contexts, found, strict=True)
        ]

    async def answer_prepared(self, batch: list[Prepared]) -> None:
        """Decide and commit: conversations side by side (their database work overlaps), each
        one's messages in order."""
        await in_order_per_key(
            batch, lambda item: item.job.key, self._handle, self.settings.worker_concurrency
        )

    async def _sentiments(
        self, texts: list[str], vectors: npt.NDArray[np.float32]
    ) -> list[SentimentResult | None]:
        if self.sentiment is None:
            return [None] * len(texts)
        analyzer = await self.sentiment.current(self.pool)
        return list(analyzer.analyze(texts, vectors=vectors))

    async def _load(self, jobs: list[queue.Job]) -> list[tuple[queue.Job, MessageContext]]:
        ids = [uuid.UUID(str(job.payload["message_id"])) for job in jobs]
        loaded = []
        async with connection(self.pool) as conn:
            rows = await tickets.load_message_contexts(conn, ids)
            for job, message_id in zip(jobs, ids, strict=True):
                row = rows.get(message_id)
                if row is None:  # the ticket was deleted meanwhile: nothing to answer
                    await queue.complete(conn, job.id)
                elif row["assignee_id"] is not None:  # a person has it: the agent stays silent
                    await queue.complete(conn, job.id)
                    log.info("ticket #%s is with a person; agent silent", row["ticket_number"])
                else:
                    loaded.append((job, MessageContext.from_record(row)))
        return loaded

    async def _handle(self, item: Prepared) -> None:
        """Decide and commit one message; the request that filed it, and its ticket, name
        every log line of this job."""
        job, ctx = item.job, item.ctx
        with trace.bound(
            **trace.from_payload(job.payload), ticket_id=ctx.ticket_id, message_id=ctx.message_id
        ):
            await self._decide_and_commit(item)

    async def _decide_and_commit(self, item: Prepared) -> None:
        job, ctx, sentiment = item.job, item.ctx, item.sentiment
        started = time.perf_counter() - item.shared_ms / 1000
        try:
            if isinstance(item.found, Exception):
                raise item.found
            sources, answered_before = item.found
            best = (ctx.customer_id, sources[0].article_id) if sources else None
            adapter = self.adapters[ctx.channel]
            # The reads need no transaction; the outcome and the job's completion are one
            # statement.
            async with connection(self.pool) as conn:
                decision = await self.agent.decide(
                    conn,
                    ctx,
                    sources,
                    adapter,
                    sentiment,
                    started,
                    answered_before=answered_before or best in item.batch_answers,
                )
                committed = await commit_decision(
                    conn,
                    ctx,
                    decision,
                    self.name,
                    job.id,
                    adapter,
                    query_embedding=item.vector,
                )
            if committed:
                count_decision(ctx.channel, decision)
                if decision.decision == "answer" and best is not None:
                    item.batch_answers.add(best)
            log.info(
                "ticket #%s message %s: %s%s (%.0f ms)%s",
                ctx.ticket_number,
                ctx.message_id,
                decision.decision,
                f" [{decision.reason}]" if decision.reason else "",
                decision.latency_ms,
                "" if committed else " — already handled, no reply sent",
            )
        except DB_DOWN:
            raise  # the lease expires and the job is claimed again when the database is back
        except Exception as exc:
            await self._fail(job, exc, ctx)

    async def _fail(self, job: queue.Job, exc: Exception, ctx: MessageContext | None) -> None:
        """An inbound job failed (the Kafka worker overrides this: it retries in place)."""
        await self._retry_or_dead_letter(job, exc, ctx)

    async def _retry_or_dead_letter(
        self, job: queue.Job, exc: Exception, ctx: MessageContext | None
    ) -> None:
        """Retry later with backoff; after the last attempt, a dead letter (and for a customer
        message, a human takes the ticket). Jobs of the PostgreSQL queue in either bus mode
        (`learn`, `kb_embed`) always fail this way."""
        error = error_text(exc)
        log.exception("job %s failed (attempt %d)", job.id, job.attempts)
        final = job.attempts >= self.settings.worker_max_attempts
        async with transaction(self.pool) as conn:
            if final:
                dead_id, handed = await dead_letters.dead_letter(
                    conn, job, error, self.adapters, ctx
                )
            else:
                await queue.retry_later(
                    conn,
                    job,
                    error,
                    backoff_seconds(job.attempts, self.settings.worker_backoff_cap_seconds),
                )
        if final:
            if handed is not None:
                handed.count()
            log.error("job %s dead-lettered as %s: %s", job.id, dead_id, error)

    async def _dead_letter(self, job: queue.Job, error: str) -> None:
        async with transaction(self.pool) as conn:
            dead_id, handed = await dead_letters.dead_letter(conn, job, error, self.adapters)
        if handed is not None:
            handed.count()
        log.error("job %s dead-lettered as %s: %s", job.id, dead_id, error)

    async def _listen(self, database_url: str, stop: asyncio.Event) -> None:
        """LISTEN for new outbox rows so an idle worker answers at once, not at its next poll."""
        while not stop.is_set():
            try:
                conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=5)
            except (*DB_DOWN, asyncpg.PostgresError):
                await _sleep_or_stop(stop, 2.0)
                continue
            try:
                await conn.add_listener(queue.NOTIFY_CHANNEL, lambda *_: self._wake.set())
                while not stop.is_set() and not conn.is_closed():
                    await _sleep_or_stop(stop, 1.0)
            except (*DB_DOWN, asyncpg.PostgresError):
                pass
            finally:
                if not conn.is_closed():
                    await conn.close(timeout=2)
            self._wake.set()  # a notification may have been missed while reconnecting


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _first_of(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
