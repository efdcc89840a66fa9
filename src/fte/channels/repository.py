"""SQL for the channels' shared state: which are disabled because the provider refused our
credentials (`channel_state`)."""

from __future__ import annotations

import asyncpg


async def disable(conn: asyncpg.Connection, channel: str, reason: str, by: str) -> bool:
    """Mark the channel disabled (kept disabled, with the latest reason, when it was already);
    True when this disabled it."""
    newly: bool = await conn.fetchval(
        """
        INSERT INTO channel_state (channel, disabled_at, reason, probed_at, changed_by)
        VALUES ($1, now(), $2, now(), $3)
        ON CONFLICT (channel) DO UPDATE
        SET disabled_at = COALESCE(channel_state.disabled_at, now()), reason = EXCLUDED.reason,
            probed_at = now(), changed_by = EXCLUDED.changed_by, updated_at = now()
        RETURNING disabled_at = now()
        """,
        channel,
        reason[:2000],
        by,
    )
    return newly


async def enable(conn: asyncpg.Connection, channel: str, by: str) -> bool:
    """Enable the channel; True when it was disabled."""
    row = await conn.fetchrow(
        """
        UPDATE channel_state
        SET disabled_at = NULL, reason = NULL, probed_at = NULL, changed_by = $2,
            updated_at = now()
        WHERE channel = $1 AND disabled_at IS NOT NULL
        RETURNING channel
        """,
        channel,
        by,
    )
    return row is not None


async def disabled(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """The disabled channels: when, why, by whom."""
    rows = await conn.fetch(
        "SELECT channel, disabled_at, reason, changed_by FROM channel_state "
        "WHERE disabled_at IS NOT NULL ORDER BY channel"
    )
    return {r["channel"]: r for r in rows}


async def claim_probe(conn: asyncpg.Connection, channel: str, every_seconds: float) -> bool:
    """True for one caller per `every_seconds` while the channel is disabled: that caller may
    try one delivery, to learn whether the credentials work again."""
    row = await conn.fetchrow(
        """
        UPDATE channel_state SET probed_at = now()
        WHERE channel = $1 AND disabled_at IS NOT NULL
          AND (probed_at IS NULL OR probed_at <= now() - make_interval(secs => $2))
        RETURNING channel
        """,
        channel,
        every_seconds,
    )
    return row is not None


async def wake_jobs(conn: asyncpg.Connection, channel: str, topic: str) -> int:
    """Make the channel's waiting jobs of `topic` (its replies) available now; how many."""
    result: str = await conn.execute(
        """
        UPDATE outbox o SET available_at = now()
        FROM messages m
        WHERE o.topic = $2 AND o.processed_at IS NULL AND o.available_at > now()
          AND m.id = (o.payload->>'message_id')::uuid AND m.channel = $1
        """,
        channel,
        topic,
    )
    return int(result.split()[-1])
