"""The answer pipeline: a batch of customer messages in, one outcome per message out.

Each step runs once for the batch (loading, embedding, sentiment, retrieval); then each
message is decided and its outcome committed with the job's completion, conversations side by
side and each one's messages in order. Which bus brought the batch, and how its outcomes are
acknowledged, is the driver's business (`queue_worker`, `kafka_worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import numpy as np
import numpy.typing as npt

from fte.agent import repository as runs
from fte.agent.responders.base import Responder
from fte.agent.retrieval import Source, retrieve
from fte.agent.runner import Agent, MessageContext
from fte.agent.service import commit_decision, count_decision
from fte.bus import postgres_queue as queue
from fte.bus.dead_letters import error_text
from fte.config import Settings
from fte.db import connection
from fte.embeddings import TextEmbedder
from fte.kit import logging as trace
from fte.messaging import ChannelAdapter
from fte.tickets import repository as tickets
from fte.worker.loops import DB_DOWN
from fte.worker.outcomes import DONE, Outcome, RetryPolicy, in_order_per_conversation

if TYPE_CHECKING:
    from fte.agent.sentiment import SentimentResult
    from fte.agent.sentiment_cache import SentimentSource

log = logging.getLogger(__name__)


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


class AnswerPipeline:
    """Customer messages to decisions: answer, escalate or draft."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        embedder: TextEmbedder,
        adapters: dict[str, ChannelAdapter],
        name: str,
        responder: Responder | None = None,
        sentiment: SentimentSource | None = None,
    ):
        self.pool = pool
        self.settings = settings
        self.embedder = embedder
        self.adapters = adapters
        self.name = name
        self.agent = Agent(settings, embedder, responder, pool)
        self.sentiment = sentiment
        self.policy = RetryPolicy.for_jobs(settings)

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

    async def answer(self, jobs: list[queue.Job]) -> list[Outcome]:
        """Run the agent on these jobs (embeddings in one batch), committing each decision
        with its job's completion; one outcome per job, in order. A failure of the whole
        batch (loading, embedding) or of the database is raised."""
        prepared = await self.prepare(jobs)
        decided = dict(
            zip(
                (item.job.id for item in prepared),
                await self.answer_prepared(prepared),
                strict=True,
            )
        )
        # Jobs left out by `prepare` had nothing to answer: completed there.
        return [decided.get(job.id, DONE) for job in jobs]

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

    async def answer_prepared(self, batch: list[Prepared]) -> list[Outcome]:
        """Decide and commit: conversations side by side (their database work overlaps), each
        one's messages in order."""
        return await in_order_per_conversation(
            batch, lambda item: item.job, self._handle, self.settings.worker_concurrency
        )

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
        # The article the agent will answer with is the one a close call settles on: asking
        # again about it is the repeat contact, not asking about the runner-up.
        found = [
            await self.agent.calibration.settle(conn, query, sources)
            for query, sources in zip(queries, found, strict=True)
        ]
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

    async def _handle(self, item: Prepared) -> Outcome:
        """Decide and commit one message; the request that filed it, and its ticket, name
        every log line of this job."""
        job, ctx = item.job, item.ctx
        with trace.bound(
            **trace.from_payload(job.payload), ticket_id=ctx.ticket_id, message_id=ctx.message_id
        ):
            try:
                await self._decide_and_commit(item)
            except DB_DOWN:
                raise  # the job is tried again when the database is back
            except Exception as exc:
                log.exception("job %s failed (attempt %d)", job.id, job.attempts)
                return self.policy.after_failure(job, error_text(exc), ctx)
        return DONE

    async def _decide_and_commit(self, item: Prepared) -> None:
        job, ctx, sentiment = item.job, item.ctx, item.sentiment
        started = time.perf_counter() - item.shared_ms / 1000
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
