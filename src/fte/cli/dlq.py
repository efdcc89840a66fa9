"""`fte dlq ...`: jobs that failed every attempt (agent runs, deliveries), and replaying them."""

from __future__ import annotations

import asyncio
import json
from contextlib import nullcontext

import asyncpg
import typer
from rich.table import Table

from fte.bus import dead_letters
from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.db import create_pool, transaction

app = typer.Typer(help="Dead letters: failed jobs, kept with their error.", no_args_is_help=True)

DatabaseUrl = typer.Option(None, "--database-url", help="Default: DATABASE_URL or embedded.")


async def _list(url: str, limit: int) -> list[asyncpg.Record]:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with transaction(pool) as conn:
            return await dead_letters.list_open(conn, limit)
    finally:
        await pool.close()


async def _replay(url: str, ids: list[int]) -> list[int]:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with transaction(pool) as conn:
            return [i for i in ids if await dead_letters.replay(conn, i)]
    finally:
        await pool.close()


@app.command("list")
def list_command(
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    url: str | None = DatabaseUrl,
) -> None:
    """Dead letters not yet replayed, newest first."""
    with database_url(get_settings()) if url is None else nullcontext(url) as db:
        rows = asyncio.run(_list(db, limit))
    if as_json:
        for r in rows:
            record = {k: r[k] for k in ("id", "topic", "key", "payload", "error", "attempts")}
            typer.echo(json.dumps({**record, "created_at": r["created_at"].isoformat()}))
        return
    table = Table("id", "topic", "attempts", "created", "error")
    for r in rows:
        table.add_row(
            str(r["id"]), r["topic"], str(r["attempts"]), f"{r['created_at']:%Y-%m-%d %H:%M}",
            r["error"].splitlines()[-1][:120],
        )  # fmt: skip
    console.print(table)


@app.command()
def replay(
    ids: list[int] = typer.Argument(..., help="Dead letter ids (from `fte dlq list`)."),
    url: str | None = DatabaseUrl,
) -> None:
    """Queue the jobs again; a delivery already sent is never sent twice."""
    with database_url(get_settings()) if url is None else nullcontext(url) as db:
        done = asyncio.run(_replay(db, ids))
    for i in ids:
        if i in done:
            console.print(f"[green]Dead letter {i} queued again.[/green]")
        else:
            console.print(f"[yellow]Dead letter {i}: none open with this id.[/yellow]")
    if len(done) != len(ids):
        raise typer.Exit(1)
