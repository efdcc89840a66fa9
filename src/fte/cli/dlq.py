"""`fte dlq ...`: dead letters, the jobs that failed every attempt (either bus)."""

from __future__ import annotations

import asyncio
import json

import typer
from rich.table import Table

from fte.bus import dead_letters
from fte.cli.context import console, database_url, run_in_transaction
from fte.config import get_settings
from fte.db import create_pool, transaction

app = typer.Typer(help="Dead letters: list and replay.", no_args_is_help=True)


@app.command("list")
def list_command(
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Dead letters not yet replayed, with their error."""

    rows = [
        dict(r)
        for r in run_in_transaction(lambda conn: dead_letters.list_open(conn, limit), refused=())
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    if not rows:
        console.print("No dead letters.")
        return
    table = Table("id", "topic", "key", "attempts", "created", "error")
    for row in rows:
        error = str(row["error"]).splitlines()[-1][:80]
        table.add_row(
            str(row["id"]),
            str(row["topic"]),
            str(row["key"]),
            str(row["attempts"]),
            f"{row['created_at']:%Y-%m-%d %H:%M:%S}",
            error,
        )
    console.print(table)


@app.command()
def replay(
    dead_letter_id: int | None = typer.Argument(
        None, min=1, max=dead_letters.MAX_ID, help="The dead letter to replay."
    ),
    replay_all: bool = typer.Option(False, "--all", help="Replay every open dead letter."),
) -> None:
    """Queue dead letters again (after the fault is fixed); each is replayed once."""
    if (dead_letter_id is None) == (not replay_all):
        console.print("[red]Give a dead letter ID or --all (not both).[/red]")
        raise typer.Exit(2)

    async def run(url: str) -> list[int]:
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            async with transaction(pool) as conn:
                if dead_letter_id is not None:
                    ids = [dead_letter_id]
                else:
                    ids = [r["id"] for r in await dead_letters.list_open(conn, 1_000_000)]
                return [i for i in sorted(ids) if await dead_letters.replay(conn, i)]
        finally:
            await pool.close()

    with database_url(get_settings()) as url:
        replayed = asyncio.run(run(url))
    if dead_letter_id is not None and not replayed:
        console.print(f"[red]No open dead letter {dead_letter_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"[green]Replayed {len(replayed)} dead letter(s).[/green]")
