"""`fte channel ...`: the channels and their state; enable one its provider had disabled."""

from __future__ import annotations

import json

import asyncpg
import typer
from rich.table import Table

from fte.bus import topics
from fte.channels import state as channel_state
from fte.channels.registry import build_registry
from fte.cli.context import console, run_in_transaction
from fte.config import get_settings

app = typer.Typer(help="Channels: their state; enable a disabled one.", no_args_is_help=True)


@app.command("list")
def list_command(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Every channel: configured or not, and disabled (with why) when its provider refused
    our credentials."""
    adapters = build_registry(get_settings())
    disabled = run_in_transaction(channel_state.disabled, refused=())
    rows = [
        {
            "channel": name,
            "configured": adapter.is_configured(),
            "disabled_at": disabled[name]["disabled_at"].isoformat() if name in disabled else None,
            "reason": disabled[name]["reason"] if name in disabled else None,
        }
        for name, adapter in adapters.items()
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    table = Table("channel", "configured", "state", "reason")
    for row in rows:
        state = "disabled" if row["disabled_at"] else "enabled"
        table.add_row(
            str(row["channel"]),
            "yes" if row["configured"] else "no",
            state,
            str(row["reason"] or ""),
        )
    console.print(table)


@app.command()
def enable(
    name: str = typer.Argument(..., help="The channel, as `fte channel list` names it."),
) -> None:
    """Enable a channel disabled because its provider refused our credentials (fix them
    first); its waiting replies are sent now."""
    if name not in build_registry(get_settings()):
        console.print(f"[red]No channel {name!r}; `fte channel list` names them.[/red]")
        raise typer.Exit(2)

    async def work(conn: asyncpg.Connection) -> bool:
        return await channel_state.enable(conn, name, "fte channel enable", topics.DELIVER)

    if not run_in_transaction(work, refused=()):
        console.print(f"{name} is not disabled.")
        return
    console.print(f"{name} enabled; its waiting replies are due now.")
