"""`fte db ...`: schema migrations, backup and restore."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.ops import backup as backups
from fte.ops import migrations

app = typer.Typer(help="Database schema, backup and restore.", no_args_is_help=True)


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


def _report(verb: str, outcome: backups.Outcome, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(outcome.file),
                    "bytes": outcome.bytes,
                    "tables": outcome.tables,
                    "seconds": round(outcome.seconds, 3),
                    "tool": outcome.tool,
                }
            )
        )
    else:
        console.print(
            f"[green]{verb}[/green] {outcome.file}: {outcome.tables} tables, "
            f"{outcome.bytes / 1_048_576:.1f} MiB in {outcome.seconds:.1f} s ({outcome.tool})"
        )


def _fail(exc: backups.BackupError) -> typer.Exit:
    console.print(f"[red]Error:[/red] {exc}")
    return typer.Exit(exc.exit_code)


@app.command("backup")
def backup_(
    file: Path | None = typer.Argument(
        None, help="Where to write the dump (default: fte-backup-<UTC time>.dump here)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Dump the database into FILE (pg_dump custom format), safe while the system runs.

    Exit codes: 0 done, 1 the dump failed (database unreachable, pg_dump missing),
    2 bad FILE."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = file or Path(f"fte-backup-{stamp}.dump")
    if target.exists() and not force:
        console.print(f"[red]Error:[/red] {target} exists; pass --force to overwrite it")
        raise typer.Exit(2)
    if not target.parent.is_dir():
        console.print(f"[red]Error:[/red] {target.parent} is not a directory")
        raise typer.Exit(2)
    settings = get_settings()
    with database_url(settings) as url:
        try:
            with console.status(f"Backing up to {target}...") as status:
                outcome = backups.backup(
                    url,
                    target,
                    external=bool(settings.database_url),
                    on_table=lambda t: status.update(f"Backing up to {target}: {t}"),
                )
        except backups.BackupError as exc:
            raise _fail(exc) from exc
    _report("Backed up", outcome, as_json)


@app.command("restore")
def restore_(
    file: Path = typer.Argument(..., help="A dump made by `fte db backup`."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Restore FILE into an EMPTY database (the target of DATABASE_URL, or the embedded one),
    in one transaction, pgvector extension included.

    Exit codes: 0 done, 1 the restore failed (nothing is left behind), 2 FILE missing or not
    a dump, 3 the target database is not empty."""
    try:
        backups.check_dump_file(file)
    except backups.BackupError as exc:
        raise _fail(exc) from exc
    settings = get_settings()
    with database_url(settings) as url:
        try:
            with console.status(f"Restoring {file}...") as status:
                outcome = backups.restore(
                    url,
                    file,
                    external=bool(settings.database_url),
                    on_table=lambda t: status.update(f"Restoring {file}: {t}"),
                )
        except backups.BackupError as exc:
            raise _fail(exc) from exc
    _report("Restored", outcome, as_json)
