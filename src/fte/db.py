"""The connection pool and the connection dependency; the request boundary owns the transaction."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from pgvector.asyncpg import register_vector

from fte.errors import ServiceUnavailable

Pool = asyncpg.Pool
Connection = asyncpg.Connection

# A database that cannot be reached or went away under a connection (OSError covers refused
# connections, DNS and TimeoutError): wait and try again, or answer 503; never a crash or a 500.
DB_LOST = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
)
# What a probe of the database (a check, a scrape, acquiring a connection) counts as "it did
# not answer": a lost database, or any error the server gave instead of an answer.
DB_ERRORS = (*DB_LOST, asyncpg.PostgresError)


def asyncpg_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs too (postgresql+asyncpg://) and hand asyncpg a plain DSN."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL on the asyncpg driver (for Alembic)."""
    return "postgresql+asyncpg://" + asyncpg_dsn(url)[len("postgresql://") :]


def json_dumps(value: Any) -> str:
    """JSON for json/jsonb parameters: compact, UUIDs and datetimes as strings."""
    return json.dumps(value, separators=(",", ":"), default=str)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json/jsonb parameters take Python objects and come back as Python objects.
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json_dumps, decoder=json.loads, schema="pg_catalog"
        )
    # Embeddings travel in pgvector's binary form: no formatting and parsing of 384 decimals
    # per query. Before `fte db migrate` has created the extension there is no type to bind.
    with contextlib.suppress(ValueError):
        await register_vector(conn)


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs a round trip (UNLISTEN, RESET ALL, ...) on every release.
    # Pooled connections never change session state here, so only an unfinished
    # transaction (a cancelled request) needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    on_connect: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> asyncpg.Pool:
    """A pool whose connections decode JSON; broken connections are replaced on next use.
    `on_connect` runs once on each new connection, after our own set-up."""

    async def init(conn: asyncpg.Connection) -> None:
        await _init_connection(conn)
        if on_connect is not None:
            await on_connect(conn)

    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        init=init,
        reset=_reset_connection,
        command_timeout=30,
        # A connection left over from before a database restart is closed, not reused.
        max_inactive_connection_lifetime=60,
    )
    assert pool is not None
    return pool


async def _pool(request: Request) -> asyncpg.Pool:  # async: no thread-pool hop per request
    pool: asyncpg.Pool = request.app.state.pool
    return pool


PoolDep = Annotated[asyncpg.Pool, Depends(_pool)]


@asynccontextmanager
async def connection(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection outside any transaction: each statement commits on its own. For
    work that is one statement (atomic by itself), it saves the BEGIN and COMMIT round trips.
    A database that cannot be reached becomes a 503, not a 500.
    """
    try:
        conn = await pool.acquire(timeout=5)
    except DB_ERRORS as exc:
        raise ServiceUnavailable("database unavailable", detail=type(exc).__name__) from exc
    try:
        yield conn
    finally:
        await pool.release(conn)


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool, *, snapshot: bool = False
) -> AsyncIterator[asyncpg.Connection]:
    """One transaction on a pooled connection: committed on exit, rolled back on error.
    `snapshot`: read-only and repeatable read, so several reads see one moment.

    Routes and job handlers own this boundary; services receive the connection and never commit.
    """
    async with connection(pool) as conn:
        options = {"isolation": "repeatable_read", "readonly": True} if snapshot else {}
        async with conn.transaction(**options):
            yield conn
