"""`fte customers ...`: customer data in (import a file of orders, run the sales sync now) and
the scores computed from it (refit)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.customers import importer
from fte.customers.orders import UpsertSummary
from fte.customers.refresh import after_orders_changed
from fte.customers.sales_sync import SyncOutcome, sync_now
from fte.customers.scoring import RescoreResult, rescore
from fte.db import DB_ERRORS, create_pool, transaction
from fte.errors import FteError
from fte.ops import migrations

app = typer.Typer(
    name="customers",
    help=(
        "Customer data: import orders from a file, sync them from the sales database, "
        "refit the value model and rescore every profile."
    ),
    no_args_is_help=True,
)

PHASES = {"copy": "Reading", "check": "Checking", "store": "Storing"}


async def _import(
    url: str, path: Path, fmt: importer.Format, quiet: bool, size: int
) -> UpsertSummary:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        ) as progress:
            task = progress.add_task(PHASES["copy"], total=size)

            def advance(phase: str, read: int) -> None:
                progress.update(task, description=PHASES[phase], advance=read)

            async with transaction(pool) as conn:
                summary = await importer.import_file(conn, path, fmt, advance)
        if summary.changed:
            await after_orders_changed(pool)
        return summary
    finally:
        await pool.close()


@app.command("import")
def import_orders(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Orders, one per row: CSV with a header line, or JSON Lines.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", help="csv or jsonl (default: from the extension)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Import orders (idempotent on order_id): columns email and/or external_id, order_id,
    amount, currency, ordered_at; optional plan, status, name, phone. Any bad row: nothing is
    imported, each bad row is named by line and field (exit 2)."""
    settings = get_settings()
    try:
        kind = importer.file_format(file, fmt)
    except FteError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    with database_url(settings) as url:
        migrations.upgrade(url)
        try:
            summary = asyncio.run(_import(url, file, kind, quiet or as_json, file.stat().st_size))
        except importer.ImportRejected as exc:
            _print_rejected(exc, as_json)
            raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(summary.as_json()))
        return
    console.print(
        f"[green]Imported {summary.rows} row(s):[/green] {summary.new} new, "
        f"{summary.updated} updated, {summary.unchanged} unchanged; "
        f"{summary.customers_created} customer(s) created."
    )


def _print_rejected(exc: importer.ImportRejected, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps({"error": exc.message, "bad_rows": exc.bad_rows, "errors": exc.detail})
        )
        return
    console.print(f"[red]{exc.message}.[/red]")
    for error in exc.errors:
        console.print(f"  {error}", markup=False)
    if exc.bad_rows > len({e.line for e in exc.errors}):
        console.print(f"  … and more: {exc.bad_rows} bad row(s) in all")


async def _sync(url: str) -> SyncOutcome:
    pool = await create_pool(url, min_size=1, max_size=3)
    try:
        return await sync_now(pool, get_settings(), "cli")
    finally:
        await pool.close()


@app.command()
def sync(as_json: bool = typer.Option(False, "--json", help="Print the run as JSON.")) -> None:
    """Run the sales sync now (FTE_SALES_DATABASE_URL, FTE_SALES_QUERY) and wait for it.
    Exit 1: it failed, another run holds the lock, or no sales database is configured."""
    settings = get_settings()
    with database_url(settings) as url:
        migrations.upgrade(url)
        try:
            outcome = asyncio.run(_sync(url))
        except FteError as exc:
            console.print(f"[red]{exc.message}[/red] ({exc.detail})")
            raise typer.Exit(1) from exc
    result = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "rows": outcome.rows,
        "cursor": outcome.cursor,
        "error": outcome.error,
        "seconds": round(outcome.seconds, 3),
        **(outcome.summary.as_json() if outcome.summary else {}),
    }
    if as_json:
        typer.echo(json.dumps(result))
    elif outcome.error:
        console.print(f"[red]Sync run {outcome.run_id} failed:[/red] {outcome.error}")
    else:
        summary = outcome.summary
        assert summary is not None
        console.print(
            f"[green]Sync run {outcome.run_id} succeeded:[/green] {outcome.rows} row(s) read; "
            f"{summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged; "
            f"{summary.customers_created} customer(s) created."
        )
    if outcome.error:
        raise typer.Exit(1)


async def _rescore(url: str) -> RescoreResult:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        return await rescore(pool)
    finally:
        await pool.close()


@app.command()
def refit(
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Refit BG/NBD and Gamma-Gamma on every customer's orders and rewrite every profile
    (value, P(alive), expected purchases and value in 90 days, churn risk, segment). Imports
    and syncs do it themselves; running it twice gives the same scores."""
    with database_url(get_settings()) as url:
        try:
            result = asyncio.run(_rescore(url))
        except DB_ERRORS as exc:
            console.print(f"[red]Cannot rescore: the database failed ({type(exc).__name__}).[/red]")
            raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result)))
        return
    console.print(
        f"[green]Rescored {result.customers} customers in {result.seconds:.1f} s[/green] "
        f"(model #{result.model_id})."
    )
    if result.note:
        console.print(f"[yellow]{result.note}[/yellow]")
