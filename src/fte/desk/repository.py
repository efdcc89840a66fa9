"""SQL for the help desk's own tables: rejected drafts, canned replies (macros) and who has a
ticket open (presence)."""

from __future__ import annotations

import uuid

import asyncpg

# ---- rejected drafts ---------------------------------------------------------------------------


async def insert_rejection(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    ticket_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: str,
) -> bool:
    """Record the run's draft as rejected, tied to the article it was drawn from (its top
    source, when that article still exists). False when it was rejected before."""
    inserted: int | None = await conn.fetchval(
        """
        INSERT INTO draft_rejections (run_id, ticket_id, article_id, user_id, reason)
        SELECT r.id, r.ticket_id, a.id, $3, $4
        FROM agent_runs r
        LEFT JOIN kb_articles a ON a.id::text = r.sources -> 0 ->> 'article_id'
        WHERE r.id = $1 AND r.ticket_id = $2
        ON CONFLICT (run_id) DO NOTHING
        RETURNING id
        """,
        run_id,
        ticket_id,
        user_id,
        reason,
    )
    return inserted is not None


async def rejection_of_run(conn: asyncpg.Connection, run_id: uuid.UUID) -> asyncpg.Record | None:
    """Who rejected this run's draft, why and when; None when nobody did."""
    return await conn.fetchrow(
        """
        SELECT d.reason, d.created_at, u.name AS user_name FROM draft_rejections d
        LEFT JOIN users u ON u.id = d.user_id WHERE d.run_id = $1
        """,
        run_id,
    )


async def rejected_runs(conn: asyncpg.Connection, ticket_id: uuid.UUID) -> list[asyncpg.Record]:
    """The ticket's rejected drafts: run, reason, who and when."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.run_id, d.reason, d.created_at, u.name AS user_name FROM draft_rejections d
        LEFT JOIN users u ON u.id = d.user_id WHERE d.ticket_id = $1 ORDER BY d.created_at
        """,
        ticket_id,
    )
    return rows


async def rejections_for_article(
    conn: asyncpg.Connection, article_id: uuid.UUID, limit: int = 50
) -> list[asyncpg.Record]:
    """Drafts drawn from this article that people rejected, newest first, with the ticket."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.reason, d.created_at, u.name AS user_name, t.id AS ticket_id, t.number
        FROM draft_rejections d
        JOIN tickets t ON t.id = d.ticket_id
        LEFT JOIN users u ON u.id = d.user_id
        WHERE d.article_id = $1 ORDER BY d.created_at DESC LIMIT $2
        """,
        article_id,
        limit,
    )
    return rows


async def reply_author(conn: asyncpg.Connection, run_id: uuid.UUID) -> str | None:
    """The name of the person who sent this run's draft (None when the agent did, or nobody)."""
    name: str | None = await conn.fetchval(
        """
        SELECT m.metadata ->> 'user_name' FROM agent_runs r
        JOIN messages m ON m.id = r.reply_message_id WHERE r.id = $1
        """,
        run_id,
    )
    return name


# ---- macros ------------------------------------------------------------------------------------


async def list_macros(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every canned reply, by name."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name, body, updated_at FROM macros ORDER BY lower(name), id"
    )
    return rows


async def get_macro(conn: asyncpg.Connection, macro_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, name, body FROM macros WHERE id = $1", macro_id)


async def insert_macro(conn: asyncpg.Connection, name: str, body: str) -> int | None:
    """A new canned reply's id; None when the name is taken."""
    macro_id: int | None = await conn.fetchval(
        "INSERT INTO macros (name, body) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        name,
        body,
    )
    return macro_id


async def update_macro(conn: asyncpg.Connection, macro_id: int, name: str, body: str) -> bool:
    """False when there is no such macro. Raises UniqueViolationError on a taken name."""
    done: str = await conn.execute(
        "UPDATE macros SET name = $2, body = $3, updated_at = now() WHERE id = $1",
        macro_id,
        name,
        body,
    )
    return done != "UPDATE 0"


async def macro_name_taken(conn: asyncpg.Connection, name: str, other_than: int | None) -> bool:
    taken: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM macros WHERE name = $1 AND id IS DISTINCT FROM $2)",
        name,
        other_than,
    )
    return taken


async def delete_macro(conn: asyncpg.Connection, macro_id: int) -> str | None:
    """The deleted macro's name; None when there was none."""
    name: str | None = await conn.fetchval(
        "DELETE FROM macros WHERE id = $1 RETURNING name", macro_id
    )
    return name


# ---- presence ----------------------------------------------------------------------------------


async def beat(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID, replying: bool
) -> None:
    """This person has the ticket open now (and is or is not writing a reply). Others' rows
    an hour old (a page closed without saying so) are cleared on the way."""
    await conn.execute(
        """
        WITH gone AS (
            DELETE FROM ticket_presence
            WHERE ticket_id = $1 AND user_id <> $2 AND seen_at < now() - interval '1 hour'
        )
        INSERT INTO ticket_presence (ticket_id, user_id, replying) VALUES ($1, $2, $3)
        ON CONFLICT (ticket_id, user_id)
        DO UPDATE SET replying = EXCLUDED.replying, seen_at = now()
        """,
        ticket_id,
        user_id,
        replying,
    )


async def leave(conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM ticket_presence WHERE ticket_id = $1 AND user_id = $2", ticket_id, user_id
    )


async def present(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID, ttl_seconds: float
) -> list[asyncpg.Record]:
    """The other people seen on the ticket within `ttl_seconds`: name and whether replying."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT u.name, p.replying FROM ticket_presence p JOIN users u ON u.id = p.user_id
        WHERE p.ticket_id = $1 AND p.user_id <> $2
          AND p.seen_at > now() - make_interval(secs => $3)
        ORDER BY u.name
        """,
        ticket_id,
        user_id,
        ttl_seconds,
    )
    return rows
