"""The database: reachable, pool usage, schema at the Alembic head, pgvector present."""

from __future__ import annotations

import asyncio

from fte.ops import migrations
from fte.ops.checks.base import DB_ERRORS, Context, Result, fail, passed, warn

# Share of the server's max_connections in use from which we warn.
CONNECTIONS_WARN = 0.8


async def check_database(ctx: Context) -> Result:
    """Connect and ask the server how many connections it has; the pool's own usage."""
    if ctx.pool is None:
        return fail(ctx.no_database, "set DATABASE_URL, or start the embedded one with `fte up`")
    pool = ctx.pool
    try:
        async with pool.acquire(timeout=1.5) as conn:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM pg_stat_activity) AS used, "
                "current_setting('max_connections')::int AS max"
            )
    except DB_ERRORS as exc:
        return fail(
            f"unreachable ({type(exc).__name__})",
            "see runbook: Database down (pg_isready, the server's log, its disk)",
        )
    assert row is not None
    in_use = pool.get_size() - pool.get_idle_size()
    data = {
        "pool_in_use": in_use,
        "pool_size": pool.get_size(),
        "pool_max": pool.get_max_size(),
        "server_connections": int(row["used"]),
        "server_max_connections": int(row["max"]),
    }
    summary = (
        f"connected; pool {in_use}/{pool.get_max_size()} in use; "
        f"server {row['used']}/{row['max']} connections"
    )
    if row["used"] >= CONNECTIONS_WARN * row["max"]:
        return warn(
            summary,
            "the server is near max_connections: fewer FTE_DB_POOL_MAX x processes, or raise it",
            **data,
        )
    return passed(summary, **data)


async def check_migrations(ctx: Context) -> Result:
    """The schema's revision against the newest migration this release ships."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=5) as conn:
        exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
        current = (
            await conn.fetchval("SELECT version_num FROM alembic_version LIMIT 1")
            if exists
            else None
        )
    heads = await asyncio.to_thread(migrations.heads)
    data = {"current": current, "head": ",".join(heads)}
    if current in heads:
        return passed(f"schema at {current} (head)", **data)
    if current is None:
        return fail("no schema (never migrated)", "run `fte db migrate`", **data)
    if current in migrations.known_revisions():
        return fail(f"schema at {current}, head is {data['head']}", "run `fte db migrate`", **data)
    return warn(
        f"schema at {current}, unknown to this release (newer?)",
        "a newer release migrated this database: run that release, or check the rollout",
        **data,
    )


async def check_pgvector(ctx: Context) -> Result:
    """The vector extension is installed in this database."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=5) as conn:
        version = await conn.fetchval(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        )
    if version is None:
        return fail(
            "the vector extension is not installed",
            "install pgvector on the server and run `fte db migrate` (it creates the extension)",
        )
    return passed(f"pgvector {version}", version=version)
