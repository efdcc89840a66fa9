"""`fte customer ...`: one customer across channels — merge two, list link suggestions."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import typer
from rich.table import Table

from fte.cli.context import console, run_in_transaction
from fte.customers import repository, service
from fte.customers.profile_cache import invalidate_profiles
from fte.customers.routes import suggestion_json

T = TypeVar("T")

app = typer.Typer(help="Customers: merge two into one, see link suggestions.", no_args_is_help=True)


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    return run_in_transaction(work, refused=(404, 409))


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        console.print(f"[red]{name} is not a customer id (a UUID): {value!r}[/red]")
        raise typer.Exit(2) from exc


@app.command()
def merge(
    keep_id: str = typer.Argument(..., help="The customer who stays."),
    other_id: str = typer.Argument(..., help="The customer merged into KEEP_ID."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Move OTHER_ID's tickets, conversations and identities to KEEP_ID, in one transaction,
    audited. Merging the same pair again changes nothing (exit 0). Exit 1: unknown customer,
    or one of them merged elsewhere; 2: bad input."""
    keep, other = _uuid(keep_id, "KEEP_ID"), _uuid(other_id, "OTHER_ID")
    result = _run(lambda conn: service.merge(conn, keep, other, "cli"))
    if result.merged:
        # The API's cached profiles, in Redis (without Redis they expire by themselves).
        asyncio.run(invalidate_profiles())
    if as_json:
        typer.echo(json.dumps(result.as_json()))
    elif not result.merged:
        console.print(f"{other} was merged into {keep} already; nothing changed.")
    else:
        moved = ", ".join(f"{n} {table}" for table, n in result.moved.items())
        console.print(f"[green]Merged {other} into {keep}:[/green] moved {moved}.")


@app.command()
def suggestions(
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Identities a customer claimed in a message or form, and who owns each now; confirm with
    `fte customer merge OWNER_ID CUSTOMER_ID`."""
    rows = _run(lambda conn: repository.open_suggestions(conn, None, limit))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(suggestion_json(row)))
        return
    if not rows:
        console.print("No link suggestions.")
        return
    table = Table("customer", "gave", "owned by", "since")
    for row in rows:
        table.add_row(
            f"{row['customer_name'] or '—'} ({row['customer_id']})",
            f"{row['kind']}: {row['value']}",
            f"{row['owner_name'] or '—'} ({row['owner_id']})" if row["owner_id"] else "nobody yet",
            f"{row['created_at']:%Y-%m-%d %H:%M}",
        )
    console.print(table)
