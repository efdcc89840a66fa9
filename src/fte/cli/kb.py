"""`fte kb ...`: the knowledge base."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fte.cli.context import console, database_url, run_in_transaction
from fte.config import get_settings
from fte.db import create_pool, transaction
from fte.embeddings import get_embedder
from fte.knowledge import repository
from fte.knowledge.importer import DEMO_KB, ImportSourceError, read_sources
from fte.knowledge.schemas import ImportReport
from fte.knowledge.service import import_sources
from fte.ops import migrations

app = typer.Typer(help="Knowledge base.", no_args_is_help=True)


async def _import(url: str, path: Path, if_empty: bool, quiet: bool) -> ImportReport | None:
    settings = get_settings()
    sources = read_sources(path)
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        if if_empty:
            async with transaction(pool) as conn:
                if await repository.count_articles(conn) > 0:
                    return None
        embedder = await asyncio.to_thread(get_embedder, settings.embedding_device)
        with Progress(
            TextColumn("[bold]Importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        ) as progress:
            task = progress.add_task("import", total=len(sources.articles) + len(sources.examples))
            return await import_sources(
                pool, sources, embedder, progress=lambda n: progress.advance(task, n)
            )
    finally:
        await pool.close()


@app.command("import")
def import_(
    path: Path = typer.Argument(
        None,
        help="A folder of .md/.txt files (and kb.jsonl/history.jsonl), one file, or a .jsonl "
        "of articles (id, title, body) or past questions (id, text, article). Default: the "
        "demo KB.",
    ),
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if articles exist."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Import articles; an unchanged article is skipped, a changed one re-embedded."""
    path = path or DEMO_KB
    with database_url(get_settings()) as url:
        migrations.upgrade(url)
        try:
            report = asyncio.run(_import(url, path, if_empty, quiet or as_json))
        except ImportSourceError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc
    if report is None:
        if as_json:
            typer.echo(json.dumps({"skipped": "the knowledge base already has articles"}))
        else:
            console.print("Knowledge base already has articles; nothing imported.")
        return
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report)))
    else:
        console.print(
            f"[green]{report.total} articles:[/green] {report.added} added, "
            f"{report.updated} updated, {report.unchanged} unchanged"
            + (
                f"; {report.examples_added} past questions added, "
                f"{report.examples_skipped} skipped."
                if report.examples_added or report.examples_skipped
                else "."
            )
        )


@app.command("list")
def list_(
    search: str | None = typer.Option(
        None, "--search", "-s", help="Full-text search, as the console's knowledge base page."
    ),
    limit: int = typer.Option(500, min=1, max=100_000, help="At most this many articles."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Articles with their embedding state (`pending` until a worker has embedded an edit)."""

    keys = ("id", "title", "escalation_reason", "embedding_status", "source_key", "updated_at")
    found = run_in_transaction(
        lambda conn: repository.list_articles(conn, search, limit), refused=(), migrate=True
    )
    rows = [{k: r[k] for k in keys} for r in found]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    if not rows:
        console.print("No article matches." if search else "The knowledge base is empty.")
        return
    table = Table("title", "escalates", "embeddings", "updated", "source", "id")
    for row in rows:
        table.add_row(
            str(row["title"]),
            str(row["escalation_reason"] or ""),
            str(row["embedding_status"]),
            f"{row['updated_at']:%Y-%m-%d %H:%M}",
            str(row["source_key"]),
            str(row["id"]),
        )
    console.print(table)
