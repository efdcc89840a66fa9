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


async def empty_database(postgres: EmbeddedPostgres, name: str) -> str:
    """A new, empty database on the test server (dropped first if a run left it); its URL."""
    conn = await asyncpg.connect(postgres.url("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres.url(name)


async def test_every_migration_downgrades_and_upgrades_again(postgres: EmbeddedPostgres) -> None:
    url = await empty_database(postgres, "migrations_roundtrip")
    await asyncio.to_thread(migrations.upgrade, url)
    full = await tables(url)
    assert {"tickets", "kb_examples", "sentiment_models", "agent_runs"} <= full
    await asyncio.to_thread(migrations.downgrade, url, "0001")
    assert "kb_examples" not in await tables(url)
    await asyncio.to_thread(migrations.downgrade, url, "base")
    assert await tables(url) == set()
    await asyncio.to_thread(migrations.upgrade, url)
    assert await tables(url) == full


async def test_tickets_filed_before_ticket_search_are_found_after_the_upgrade_even_if_rerun(
    postgres: EmbeddedPostgres,
) -> None:
    # 0021 fills the words of the tickets already there, in batches of 5,000: 12,000 tickets
    # take three batches.
    url = await empty_database(postgres, "search_backfill")
    await asyncio.to_thread(migrations.upgrade, url, "0020")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            WITH c AS (INSERT INTO customers (name, email) VALUES ('Ann', 'ann@example.com')
                       RETURNING id),
                 v AS (INSERT INTO conversations (customer_id, channel)
                       SELECT c.id, 'email' FROM c, generate_series(1, 12000) RETURNING id),
                 t AS (INSERT INTO tickets (customer_id, conversation_id, channel, subject)
                       SELECT c.id, v.id, 'email', 'Question' FROM c, v
                       RETURNING id, conversation_id, number)
            INSERT INTO messages (conversation_id, ticket_id, channel, direction, author, body)
            SELECT conversation_id, id, 'email', 'inbound', 'customer',
                   'my kettle ' || number || ' leaks' FROM t
            """
        )
        await asyncio.to_thread(migrations.upgrade, url)
        words = await conn.fetch(
            "SELECT search_words::text AS words FROM tickets WHERE number IN (1, 6000, 12000) "
            "ORDER BY number"
        )
        assert [w["words"] for w in words] == [
            "'1' 'kettle' 'leaks' 'my' 'question'",
            "'6000' 'kettle' 'leaks' 'my' 'question'",
            "'12000' 'kettle' 'leaks' 'my' 'question'",
        ]
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM tickets "
                "WHERE search_words @@ ticket_search_query('KETTLE leak')"
            )
            == 12000
        )

        # Stopped after a failed index build (PostgreSQL leaves it INVALID) and before the
        # version was written: the next upgrade runs it all again and the index is valid.
        await conn.execute(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'tickets_search_idx'::regclass"
        )
        await conn.execute("UPDATE alembic_version SET version_num = '0020'")
        await asyncio.to_thread(migrations.upgrade, url)
        assert await conn.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'tickets_search_idx'::regclass"
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM tickets WHERE search_words @@ ticket_search_query('kettle')"
            )
            == 12000
        )
    finally:
        await conn.close()
