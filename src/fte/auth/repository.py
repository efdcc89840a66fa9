"""SQL for users, sessions, API keys and rate-limit windows."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg


async def insert_user(
    conn: asyncpg.Connection, email: str, name: str, role: str, password_hash: str
) -> uuid.UUID | None:
    """The new user's id; None when the email is taken (case-insensitively)."""
    user_id: uuid.UUID | None = await conn.fetchval(
        """
        INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
        ON CONFLICT ((lower(email))) DO NOTHING
        RETURNING id
        """,
        email,
        name,
        role,
        password_hash,
    )
    return user_id


async def user_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT id, email, name, role, password_hash FROM users "
        "WHERE lower(email) = lower($1) AND disabled_at IS NULL",
        email,
    )
    return row


async def list_users(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every console user, by email (never the password hash)."""
    return await conn.fetch(
        "SELECT id, email, name, role, created_at FROM users ORDER BY lower(email)"
    )


async def set_password_hash(conn: asyncpg.Connection, user_id: uuid.UUID, digest: str) -> None:
    await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, digest)


async def insert_session(
    conn: asyncpg.Connection,
    token_hash: bytes,
    user_id: uuid.UUID,
    csrf_token: str,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, csrf_token, expires_at) "
        "VALUES ($1, $2, $3, $4)",
        token_hash,
        user_id,
        csrf_token,
        expires_at,
    )


async def session_by_hash(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """The live session and its user; None when expired, unknown or the user is disabled."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT s.csrf_token, u.id, u.email, u.name, u.role
        FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL
        """,
        token_hash,
    )
    return row


async def delete_session(conn: asyncpg.Connection, token_hash: bytes) -> None:
    await conn.execute("DELETE FROM user_sessions WHERE token_hash = $1", token_hash)


async def delete_expired_sessions(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    await conn.execute(
        "DELETE FROM user_sessions WHERE user_id = $1 AND expires_at <= now()", user_id
    )


async def insert_api_key(
    conn: asyncpg.Connection,
    name: str,
    role: str,
    prefix: str,
    key_hash: bytes,
    scopes: list[str] | None = None,
    rate_limit: int | None = None,
) -> uuid.UUID:
    key_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO api_keys (name, role, prefix, key_hash, scopes, rate_limit) "
        "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        name,
        role,
        prefix,
        key_hash,
        scopes,
        rate_limit,
    )
    return key_id


async def live_api_key(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    """The live key with that hash (None when unknown or revoked), with its scopes, its own
    rate limit and whether its last use is stamped more than a minute ago."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT id, name, role, scopes, rate_limit,
               last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale
          FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL
        """,
        key_hash,
    )
    return row


async def touch_api_key(conn: asyncpg.Connection, key_id: uuid.UUID) -> None:
    """Stamp the key's last use."""
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)


async def use_api_key(conn: asyncpg.Connection, key_hash: bytes) -> asyncpg.Record | None:
    """The live key with that hash, its last use stamped; None when unknown or revoked."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        UPDATE api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL
        RETURNING id, name, role
        """,
        key_hash,
    )
    return row


async def list_api_keys(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, name, role, scopes, rate_limit, prefix, created_at, last_used_at, "
        "revoked_at FROM api_keys ORDER BY created_at"
    )
    return rows


async def revoke_api_key(conn: asyncpg.Connection, key_id: uuid.UUID) -> bool:
    status: str = await conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return status.endswith(" 1")


async def hit(conn: asyncpg.Connection, bucket: str, window_seconds: int) -> tuple[int, float]:
    """Count one hit in the bucket: (hits in the last `window_seconds` including this one,
    seconds until the oldest of them leaves the window). The bucket's expired hits go."""
    row = await conn.fetchrow(
        """
        WITH expired AS (
            DELETE FROM rate_limit_hits
            WHERE bucket = $1 AND at <= now() - make_interval(secs => $2)
        ), counted AS (
            INSERT INTO rate_limit_hits (bucket) VALUES ($1)
        )
        SELECT count(*) + 1 AS hits,
               coalesce(extract(epoch FROM min(at) + make_interval(secs => $2) - now()), $2)
                   AS remaining
        FROM rate_limit_hits
        WHERE bucket = $1 AND at > now() - make_interval(secs => $2)
        """,
        bucket,
        float(window_seconds),
    )
    assert row is not None
    return int(row["hits"]), float(row["remaining"])


async def hits(conn: asyncpg.Connection, bucket: str, window_seconds: int) -> tuple[int, float]:
    """The bucket's hits in the last `window_seconds`, without adding one, and the seconds
    until the oldest of them leaves the window."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS hits,
               coalesce(extract(epoch FROM min(at) + make_interval(secs => $2) - now()), 0)
                   AS remaining
        FROM rate_limit_hits
        WHERE bucket = $1 AND at > now() - make_interval(secs => $2)
        """,
        bucket,
        float(window_seconds),
    )
    assert row is not None
    return int(row["hits"]), float(row["remaining"])


async def audit(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    ticket_id: uuid.UUID | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, ticket_id, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        ticket_id,
        detail or {},
    )
