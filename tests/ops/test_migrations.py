"""The schema goes up, down and up again: a release can be rolled back."""

from __future__ import annotations

import asyncio

import asyncpg

from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_every_migration_downgrades_and_upgrades_again(postgres: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(postgres.url("postgres"))
    try:
        await conn.execute('DROP DATABASE IF EXISTS "migrations_roundtrip"')
        await conn.execute('CREATE DATABASE "migrations_roundtrip"')
    finally:
        await conn.close()
    url = postgres.url("migrations_roundtrip")
    await asyncio.to_thread(migrations.upgrade, url)
    full = await tables(url)
    assert {"tickets", "kb_examples", "sentiment_models", "agent_runs"} <= full
    await asyncio.to_thread(migrations.downgrade, url, "0001")
    assert "kb_examples" not in await tables(url)
    await asyncio.to_thread(migrations.downgrade, url, "base")
    assert await tables(url) == set()
    await asyncio.to_thread(migrations.upgrade, url)
    assert await tables(url) == full
