"""`fte db ...`: schema migrations."""

from __future__ import annotations

import typer

from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.ops import migrations

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command()
def migrate(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply the migrations up to REVISION (default: the latest)."""
    with database_url(get_settings()) as url:
        migrations.upgrade(url, revision)
    console.print(f"[green]Schema at {revision}.[/green]")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1.")) -> None:
    """Take the schema back to REVISION."""
    with database_url(get_settings()) as url:
        migrations.downgrade(url, revision)
    console.print(f"[green]Schema at {revision}.[/green]")
