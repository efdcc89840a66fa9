"""SQL for the Gmail mailbox state: the history cursor and the push watch's expiry."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def lock_mailbox(conn: asyncpg.Connection, mailbox: str) -> int | None:
    """The mailbox's history cursor, its row locked until the transaction ends (so two pushes
    file one after the other); the row is created when missing."""
    await conn.execute(
        "INSERT INTO gmail_mailboxes (mailbox) VALUES ($1) ON CONFLICT (mailbox) DO NOTHING",
        mailbox,
    )
    value: int | None = await conn.fetchval(
        "SELECT history_id FROM gmail_mailboxes WHERE mailbox = $1 FOR UPDATE", mailbox
    )
    return value


async def history_cursor(conn: asyncpg.Connection, mailbox: str) -> int | None:
    """The history id up to which the mailbox's mail has been filed (None: never read)."""
    value: int | None = await conn.fetchval(
        "SELECT history_id FROM gmail_mailboxes WHERE mailbox = $1", mailbox
    )
    return value


async def advance_cursor(conn: asyncpg.Connection, mailbox: str, history_id: int) -> None:
    """Move the cursor forward (never back: history ids only grow)."""
    await conn.execute(
        """
        UPDATE gmail_mailboxes
        SET history_id = GREATEST(COALESCE(history_id, 0), $2), updated_at = now()
        WHERE mailbox = $1
        """,
        mailbox,
        history_id,
    )


async def record_watch(
    conn: asyncpg.Connection, mailbox: str, history_id: int, expires_at: datetime
) -> None:
    """A watch was set up: its expiry, and the starting cursor when there is none yet (a cursor
    already there is kept, so mail that arrived while the watch was down is still read)."""
    await conn.execute(
        """
        INSERT INTO gmail_mailboxes (mailbox, history_id, watch_expires_at, watch_renewed_at)
        VALUES ($1, $2, $3, now())
        ON CONFLICT (mailbox) DO UPDATE
        SET history_id = COALESCE(gmail_mailboxes.history_id, EXCLUDED.history_id),
            watch_expires_at = EXCLUDED.watch_expires_at, watch_renewed_at = now(),
            updated_at = now()
        """,
        mailbox,
        history_id,
        expires_at,
    )


async def watch_expiry(conn: asyncpg.Connection, mailbox: str | None = None) -> datetime | None:
    """When the watch expires: of this mailbox, or the soonest of all (None: no watch)."""
    if mailbox is None:
        value: datetime | None = await conn.fetchval(
            "SELECT min(watch_expires_at) FROM gmail_mailboxes"
        )
    else:
        value = await conn.fetchval(
            "SELECT watch_expires_at FROM gmail_mailboxes WHERE mailbox = $1", mailbox
        )
    return value
