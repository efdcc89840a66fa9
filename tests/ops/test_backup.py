"""`fte db backup` / `fte db restore` with the real pg_dump and pg_restore of the embedded wheel."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from fte.cli.main import app
from fte.config import get_settings
from fte.ops import backup as backups
from fte.ops.embedded_postgres import EmbeddedPostgres
from tests.conftest import make_settings, serve_app
from tests.fixtures.db import TABLES

# Every row of these, in full, must come back; vectors compared as pgvector's text form.
SNAPSHOT = {
    "tickets": "SELECT * FROM tickets ORDER BY id",
    "messages": "SELECT * FROM messages ORDER BY id",
    "customers": "SELECT * FROM customers ORDER BY id",
    "kb_chunks": "SELECT id, article_id, content, embedding::text AS e FROM kb_chunks ORDER BY id",
    "kb_examples": "SELECT id, article_id, text, embedding::text AS e FROM kb_examples ORDER BY id",
}


async def _rows(url: str) -> dict[str, dict[object, dict[str, object]]]:
    conn = await asyncpg.connect(url)
    try:
        return {
            name: {r[0]: dict(r) for r in await conn.fetch(sql)} for name, sql in SNAPSHOT.items()
        }
    finally:
        await conn.close()


async def _add_examples(url: str) -> None:
    """Past questions with real vectors (the demo KB ships none)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO kb_examples (article_id, source, source_key, text, embedding) "
            "SELECT article_id, 'history', 'h' || id, content, embedding FROM kb_chunks"
        )
    finally:
        await conn.close()


async def _submit_until(
    base: str, stop: asyncio.Event, warm: asyncio.Event, acked: list[str], worker: int
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        n = 0
        while not stop.is_set():
            n += 1
            response = await client.post(
                "/support/submit",
                json={
                    "name": f"Load {worker}",
                    "email": f"load{worker}-{n}@example.com",
                    "subject": "Sync stopped",
                    "message": f"Question {n} from client {worker}: my files stopped syncing.",
                },
            )
            assert response.status_code == 201, response.text
            acked.append(response.json()["ticket_id"])
            if len(acked) >= 30:
                warm.set()


async def test_a_backup_taken_under_write_load_restores_completely(
    kb_db_url: str, tmp_path: Path
) -> None:
    await _add_examples(kb_db_url)
    dump = tmp_path / "fte.dump"
    stop, warm = asyncio.Event(), asyncio.Event()
    acked: list[str] = []
    async with serve_app(kb_db_url, make_settings()) as base:
        clients = [asyncio.create_task(_submit_until(base, stop, warm, acked, w)) for w in range(6)]
        await warm.wait()
        before_backup = set(acked)
        outcome = await asyncio.to_thread(backups.backup, kb_db_url, dump, external=False)
        during = len(acked) - len(before_backup)
        stop.set()
        await asyncio.gather(*clients)
    assert during > 0, "no write happened while the dump ran"
    assert outcome.tables >= len(TABLES)

    fresh = EmbeddedPostgres(tmp_path / "restored")
    await asyncio.to_thread(fresh.start)
    try:
        await asyncio.to_thread(backups.restore, fresh.url(), dump, external=False)
        source, restored = await _rows(kb_db_url), await _rows(fresh.url())
    finally:
        await asyncio.to_thread(fresh.stop)

    # Every ticket acknowledged before the dump began is there; every restored row is exactly
    # the source row (a consistent snapshot: no half-filed submission, no torn row).
    restored_tickets = {str(t) for t in restored["tickets"]}
    assert before_backup <= restored_tickets
    for table, rows in restored.items():
        for key, row in rows.items():
            assert source[table][key] == row, f"{table} {key} differs"
    for message in restored["messages"].values():
        assert str(message["ticket_id"]) in restored_tickets
    per_ticket = {str(m["ticket_id"]) for m in source["messages"].values()}
    assert restored_tickets <= per_ticket
    # The knowledge base was not being written: it comes back whole, every vector included.
    for table in ("kb_chunks", "kb_examples"):
        assert len(source[table]) > 0
        assert restored[table] == source[table]


def _fte(args: list[str], database_url: str) -> Result:
    get_settings.cache_clear()  # settings are read once per process; each call has its own URL
    try:
        return CliRunner().invoke(app, args, env={"DATABASE_URL": database_url})
    finally:
        get_settings.cache_clear()


async def _new_database(postgres: EmbeddedPostgres) -> str:
    name = f"restore_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(postgres.url("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return postgres.url(name)


def test_cli_backup_then_restore_and_the_refusals(
    postgres: EmbeddedPostgres, kb_db_url: str, tmp_path: Path
) -> None:
    dump = tmp_path / "kb.dump"
    made = _fte(["db", "backup", str(dump), "--json"], kb_db_url)
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["bytes"] == dump.stat().st_size

    again = _fte(["db", "backup", str(dump)], kb_db_url)
    assert again.exit_code == 2
    assert "--force" in " ".join(again.output.split())

    target = asyncio.run(_new_database(postgres))
    done = _fte(["db", "restore", str(dump), "--json"], target)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["tables"] >= len(TABLES)

    async def chunks(url: str) -> tuple[int, str]:
        conn = await asyncpg.connect(url)
        try:
            count = await conn.fetchval("SELECT count(*) FROM kb_chunks")
            version = await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
            return int(count), str(version)
        finally:
            await conn.close()

    restored, source = asyncio.run(chunks(target)), asyncio.run(chunks(kb_db_url))
    assert restored == source

    # A second restore into the now full database is refused, and nothing changes.
    refused = _fte(["db", "restore", str(dump)], target)
    assert refused.exit_code == 3
    assert "not empty" in " ".join(refused.output.split())
    assert asyncio.run(chunks(target)) == source


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no such file"), (b"hello", "not a custom-format dump")]
)
def test_cli_restore_names_a_bad_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.dump"
    if content is not None:
        path.write_bytes(content)
    result = _fte(["db", "restore", str(path)], "postgresql://nobody@127.0.0.1:1/x")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in " ".join(result.output.split())


def test_backup_of_an_unreachable_database_fails_cleanly(tmp_path: Path) -> None:
    result = _fte(["db", "backup", str(tmp_path / "x.dump")], "postgresql://nobody@127.0.0.1:1/x")
    assert result.exit_code == 1
    assert "cannot connect" in " ".join(result.output.split())
    assert not (tmp_path / "x.dump").exists()
    assert not (tmp_path / "x.dump.partial").exists()
