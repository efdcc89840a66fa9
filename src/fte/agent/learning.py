"""Resolved tickets teach retrieval: a question answered with an article becomes an example.

When a ticket is resolved, every customer question in it that was answered with an article
(by the agent, or by a human who cited one) is stored as a past question pointing at that
article, so the next customer who asks it that way is matched to the right article.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from fte.embeddings import TextEmbedder
from fte.knowledge import repository as kb


async def learn_from_ticket(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, embedder: TextEmbedder
) -> int:
    """Store the ticket's answered questions as examples; the number added."""
    rows = await kb.answered_questions(conn, ticket_id)
    if not rows:
        return 0
    vectors = await asyncio.to_thread(embedder.embed, [r["body"] for r in rows])
    await kb.insert_examples(
        conn,
        [
            (r["article_id"], "ticket", f"ticket:{r['message_id']}", r["body"], v)
            for r, v in zip(rows, vectors, strict=True)
        ],
    )
    return len(rows)
