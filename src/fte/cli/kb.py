"""`fte kb ...`: the knowledge base."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fte.agent.embeddings import get_embedder
from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.db import create_pool, transaction
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
