"""What the operators' tools read: counts over the queue, the tickets, the messages and the
channels' breakers (`/metrics`, `/metrics/channels`, `/health`), and whether a database is
empty (`fte db restore`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def waiting_by_topic(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    """Per queue topic with jobs waiting: how many (`n`) and the oldest one's age in seconds
    (`age`)."""
    rows = await conn.fetch(
        "SELECT topic, count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age "
        "FROM outbox WHERE processed_at IS NULL GROUP BY topic"
    )
    return {r["topic"]: r for r in rows}


async def tickets_by_status(conn: asyncpg.Connection) -> dict[str, int]:
    """How many tickets are in each status (statuses without any are absent)."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM tickets GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def breaker_states(conn: asyncpg.Connection) -> dict[str, str]:
    """Each channel's last recorded breaker state, by channel name."""
    rows = await conn.fetch("SELECT channel, breaker FROM channel_health ORDER BY channel")
    return {r["channel"]: r["breaker"] for r in rows}


async def channel_activity(conn: asyncpg.Connection, since: datetime) -> dict[str, asyncpg.Record]:
    """Per channel that has messages: messages in and out since `since`, failed and erring
    deliveries since then, and the last message each way ever."""
    rows = await conn.fetch(
        """
        SELECT channel,
               count(*) FILTER (WHERE direction = 'inbound' AND created_at >= $1) AS messages_in,
               count(*) FILTER (WHERE direction = 'outbound' AND created_at >= $1)
                   AS messages_out,
               count(*) FILTER (WHERE direction = 'outbound' AND created_at >= $1
                                AND delivery_status = 'failed') AS delivery_failed,
               count(*) FILTER (WHERE direction = 'outbound' AND created_at >= $1
                                AND delivery_error IS NOT NULL) AS delivery_errors,
               max(created_at) FILTER (WHERE direction = 'inbound') AS last_inbound_at,
               max(created_at) FILTER (WHERE direction = 'outbound') AS last_outbound_at
        FROM messages GROUP BY channel
        """,
        since,
    )
    return {r["channel"]: r for r in rows}


async def user_relations(conn: asyncpg.Connection, limit: int) -> list[str]:
    """Up to `limit` of the database's own relations (tables, views, sequences...), as
    `schema.name`: none means the database is empty."""
    rows = await conn.fetch(
        "SELECT n.nspname || '.' || c.relname AS name FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
        "ORDER BY 1 LIMIT $1",
        limit,
    )
    return [r["name"] for r in rows]


async def backend_process(conn: asyncpg.Connection) -> asyncpg.Record:
    """This connection's PostgreSQL backend: its pid and the client port it sees (None over a
    Unix socket)."""
    row = await conn.fetchrow("SELECT pg_backend_pid() AS pid, inet_client_port() AS port")
    assert row is not None
    return row
