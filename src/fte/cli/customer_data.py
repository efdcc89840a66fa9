"""`fte customers ...`: the customers' purchase data and the scores computed from it."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import typer

from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.customers.scoring import RescoreResult, rescore
from fte.db import DB_ERRORS, create_pool

app = typer.Typer(
    help="Customer data: refit the value model and rescore every profile.",
    no_args_is_help=True,
)


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
    (value, P(alive), expected purchases and value in 90 days, churn risk, segment). Run after
    each sync and import; running it twice gives the same scores."""
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
