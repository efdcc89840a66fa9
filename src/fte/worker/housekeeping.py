"""The housekeeping pipelines, on the PostgreSQL queue whatever the bus: learning from resolved
tickets (`learn`) and re-embedding articles edited in the console (`kb_embed`). Each takes a
batch of jobs and returns one outcome per job."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from fte.agent.learning import learn_from_ticket
from fte.bus import postgres_queue as queue
from fte.bus import topics
from fte.bus.dead_letters import error_text
from fte.db import transaction
from fte.embeddings import TextEmbedder
from fte.knowledge.editor import embed_article
from fte.knowledge.repository import mark_embedding_failed
from fte.worker.loops import DB_DOWN
from fte.worker.outcomes import DONE, DeadLetter, Outcome, RetryPolicy

log = logging.getLogger(__name__)

TOPICS = (topics.LEARN, topics.KB_EMBED)


async def learn(
    pool: asyncpg.Pool, embedder: TextEmbedder, policy: RetryPolicy, jobs: list[queue.Job]
) -> list[Outcome]:
    """Add each resolved ticket's answers to the examples the agent retrieves."""
    outcomes: list[Outcome] = []
    for job in jobs:
        try:
            async with transaction(pool) as conn:
                added = await learn_from_ticket(conn, uuid.UUID(job.payload["ticket_id"]), embedder)
                await queue.complete(conn, job.id)
            log.info(
                "learnt %d example(s) from resolved ticket %s", added, job.payload["ticket_id"]
            )
            outcomes.append(DONE)
        except DB_DOWN:
            raise
        except Exception as exc:
            log.exception("job %s failed (attempt %d)", job.id, job.attempts)
            outcomes.append(policy.after_failure(job, error_text(exc)))
    return outcomes


async def embed_articles(
    pool: asyncpg.Pool, embedder: TextEmbedder, policy: RetryPolicy, jobs: list[queue.Job]
) -> list[Outcome]:
    """Re-embed each edited article, unless it changed again since; an article that cannot be
    embedded after the last attempt is marked so in the console."""
    outcomes: list[Outcome] = []
    for job in jobs:
        article_id = uuid.UUID(job.payload["article_id"])
        content_hash = job.payload["content_hash"]
        try:
            async with transaction(pool) as conn:
                stored = await embed_article(conn, article_id, content_hash, embedder)
                await queue.complete(conn, job.id)
            log.info("article %s %s", article_id, "embedded" if stored else "changed; skipped")
            outcomes.append(DONE)
        except DB_DOWN:
            raise
        except Exception as exc:
            log.exception("job %s failed (attempt %d)", job.id, job.attempts)
            outcome = policy.after_failure(job, error_text(exc))
            if isinstance(outcome, DeadLetter):
                async with transaction(pool) as conn:
                    await mark_embedding_failed(conn, article_id, str(exc))
            outcomes.append(outcome)
    return outcomes
