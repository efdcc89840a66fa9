"""Run the agent over a data set exactly as the worker does, in a database of its own.

The knowledge base and the messages go into a throw-away database (a temporary embedded
PostgreSQL, or a new database on the server given with --database-url), the messages are filed
by the intake and answered by the worker's own loop, and the runs are read back and scored.
Production data is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

import fte.agent.sentiment_cache as sentiment_cache
from fte.agent import answerability
from fte.agent.close_calls import CLOSE_CALL, clears
from fte.agent.escalation import LOW_CONFIDENCE, message_reason
from fte.agent.handover import handover_reason
from fte.agent.sentiment import SentimentResult
from fte.channels.registry import REPLAY_CHANNEL, build_registry
from fte.config import Settings
from fte.db import asyncpg_dsn, create_pool, transaction
from fte.embeddings import Embedder
from fte.evaluation import repository
from fte.evaluation.dataset import EvalRow, dataset_key
from fte.evaluation.scoring import RunOutcome, score
from fte.intake.service import file_inbound
from fte.knowledge import repository as kb_repository
from fte.knowledge.schemas import KbSources
from fte.knowledge.service import import_sources
from fte.messaging import Identity, InboundMessage
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres
from fte.worker.queue_worker import QueueWorker

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class EvalRecord:
    """One row's outcome with what calibration needs to replay the decision."""

    row: EvalRow
    outcome: RunOutcome
    confidence: float
    topic_reason: str | None
    sentiment_score: float | None
    # (article id, title, confidence) of the run's sources, best first, for `--errors`.
    sources: tuple[tuple[str, str, float], ...] = ()
    reply: str | None = None  # what the customer was sent (the answer, or the hand-over note)
    draft: str | None = None  # what a human was offered
    # Mostly in words the knowledge base never uses (`answerability.Vocabulary.off_subject`).
    off_subject: bool = False
    # How many of its content words the knowledge base never uses (`close_calls.clears`).
    unknown_words: int = 0


@contextlib.asynccontextmanager
async def scratch_database(database_url: str | None) -> AsyncIterator[str]:
    """A new, empty database that is gone afterwards."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="fte-eval-") as tmp:
            server = EmbeddedPostgres(Path(tmp))
            url = await asyncio.to_thread(server.start)
            try:
                yield url
            finally:
                await asyncio.to_thread(server.stop)
        return
    name = f"fte_eval_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await repository.create_database(admin, name)
    finally:
        await admin.close()
    base, _, _ = asyncpg_dsn(database_url).rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await repository.drop_database(admin, name)
        finally:
            await admin.close()


async def evaluate(
    kb: KbSources,
    rows: Sequence[EvalRow],
    settings: Settings,
    embedder: Embedder,
    progress: Progress,
    database_url: str | None = None,
    info: dict[str, Any] | None = None,
) -> list[EvalRecord]:
    """File every row, let the worker handle them, read the outcomes back. `info` receives
    the answer bar the knowledge base calibrated for itself (`answer_threshold`) and the part
    of it its history sets (`history_bar`: 0 when it has too few answered questions)."""
    async with scratch_database(database_url) as url:
        await asyncio.to_thread(migrations.upgrade, url)
        pool = await create_pool(url, min_size=1, max_size=4)
        try:
            total = len(kb.articles) + len(kb.examples)
            done = 0

            def imported(n: int) -> None:
                nonlocal done
                done += n
                progress("import", done, total)

            if total:
                await import_sources(pool, kb, embedder, imported)
            adapters = build_registry(settings)
            message_ids = []
            for i, row in enumerate(rows):
                channel = row.channel if row.channel in adapters else REPLAY_CHANNEL
                filed = await file_inbound(
                    pool,
                    InboundMessage(
                        channel=channel,
                        identity=Identity("email", f"row-{i}@eval.invalid"),
                        body=row.text,
                        external_id=f"eval:{row.id}",
                    ),
                )
                message_ids.append(filed.message_id)
                if i % 50 == 0 or i == len(rows) - 1:
                    progress("file", i + 1, len(rows))
            worker = QueueWorker(
                pool,
                settings,
                embedder,
                adapters,
                name="eval",
                sentiment=sentiment_cache.SentimentSource(embedder),
            )
            if info is not None:
                async with transaction(pool) as conn:
                    info["answer_threshold"] = round(
                        await answerability.compute(conn, settings.answer_threshold), 4
                    )
                    info["history_bar"] = round(await answerability.compute(conn, 0.0), 4)
            # As `fte worker` does before its first message: models, answer bar, vocabulary.
            await worker.answers.warm_up()
            handled = 0
            while (claimed := await worker.run_once()) > 0:
                handled += claimed
                progress("agent", min(handled, len(rows)), len(rows))
            return await _collect(pool, rows, message_ids)
        finally:
            await pool.close()


async def _collect(
    pool: asyncpg.Pool, rows: Sequence[EvalRow], message_ids: Sequence[uuid.UUID]
) -> list[EvalRecord]:
    async with transaction(pool) as conn:
        vocabulary = answerability.Vocabulary(*await kb_repository.vocabulary_texts(conn))
        keys = await repository.article_keys(conn)
        runs = await repository.runs_by_message(conn)
    records = []
    for row, message_id in zip(rows, message_ids, strict=True):
        run = runs.get(message_id)
        if run is None:  # dead-lettered: count it as the worst outcome, visibly
            outcome = RunOutcome("failed", None, [], None, 0.0)
            records.append(EvalRecord(row, outcome, 0.0, None, None))
            continue
        sources: list[dict[str, Any]] = run["sources"]
        ranked = [
            dataset_key(keys.get(uuid.UUID(s["article_id"]), s["article_id"])) for s in sources
        ]
        outcome = RunOutcome(
            decision=run["decision"],
            reason=run["reason"],
            ranked_articles=ranked,
            sentiment=run["sentiment"],
            latency_ms=float(run["latency_ms"]),
        )
        records.append(
            EvalRecord(
                row,
                outcome,
                float(run["confidence"] or 0.0),
                sources[0].get("escalation_reason") if sources else None,
                run["sentiment_score"],
                tuple(
                    (key, str(s.get("title", "")), float(s.get("score", 0.0)))
                    for key, s in zip(ranked, sources, strict=True)
                ),
                run["reply"],
                run["draft"],
                vocabulary.off_subject(row.text),
                vocabulary.unknown(row.text)[0],
            )
        )
    return records


def calibrate(
    records: Sequence[EvalRecord],
    thresholds: Sequence[float],
    negative_threshold: float,
    history_bar: float = 0.0,
) -> list[dict[str, Any]]:
    """The figures at each answer threshold (the floor), replaying the runner's policy from
    what the runs stored (retrieval does not depend on the threshold): the message's wording,
    the first-message hand-over policy (`agent/handover.py`, with the run's sentiment score
    and `negative_threshold`), an escalation topic at the floor, then the answer bar: the
    floor raised to `history_bar` (or just under it with the evidence agreeing:
    `close_calls.clears`), and the message on the knowledge base's subject. Repeat
    contact and negative sentiment after an answer do not arise here: every row is its own
    customer and ticket."""
    table = []
    for threshold in thresholds:
        bar = max(threshold, history_bar)
        outcomes = []
        for rec in records:
            reason = message_reason(rec.row.text)
            if reason is None:
                felt = (
                    SentimentResult("negative", rec.sentiment_score)
                    if rec.sentiment_score is not None
                    else None
                )
                reason = handover_reason(rec.row.text, felt, negative_threshold)
            if reason is None and rec.topic_reason and rec.confidence >= threshold:
                reason = rec.topic_reason
            scores = [score for _, _, score in rec.sources]
            close = len(scores) > 1 and abs(scores[0] - scores[1]) < CLOSE_CALL
            confidence = max(scores[:2]) if close else rec.confidence
            runner_up = max(scores[1:], default=None)
            if reason is None and (
                not clears(confidence, bar, runner_up, rec.unknown_words) or rec.off_subject
            ):
                reason = LOW_CONFIDENCE
            decision = "escalate" if reason else "answer"
            outcomes.append(replace(rec.outcome, decision=decision, reason=reason))
        figures = score([r.row for r in records], outcomes)
        table.append(
            {
                "threshold": round(threshold, 3),
                **{
                    k: figures[k]
                    for k in ("action_accuracy", "escalation_precision", "escalation_recall")
                },
                "low_confidence_recall": figures["per_reason"]
                .get(LOW_CONFIDENCE, {})
                .get("recall"),
            }
        )
    return table


def score_records(records: Sequence[EvalRecord]) -> dict[str, Any]:
    """The figures for the runs as they happened."""
    return score([r.row for r in records], [r.outcome for r in records])
