"""SQL for the IMAP mailbox state: the UIDVALIDITY and the last UID filed, per mailbox."""

from __future__ import annotations

import asyncpg


async def cursor(conn: asyncpg.Connection, mailbox: str) -> tuple[int | None, int]:
    """(UIDVALIDITY, last UID filed) of the mailbox; (None, 0) when it was never read."""
    row = await conn.fetchrow(
        "SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = $1", mailbox
    )
    if row is None:
        return None, 0
    return row["uidvalidity"], row["last_uid"]


async def advance(conn: asyncpg.Connection, mailbox: str, uidvalidity: int, uid: int) -> None:
    """Record what was filed: everything up to `uid` under this UIDVALIDITY."""
    await conn.execute(
        """
        INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3)
        ON CONFLICT (mailbox) DO UPDATE
        SET uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid,
            updated_at = now()
        """,
        mailbox,
        uidvalidity,
        uid,
    )
