"""What every command needs: settings, logging, and a database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from fte.config import Settings
from fte.ops.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError

console = Console(stderr=True)


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL; else the embedded server `fte up` runs; else the embedded server, started
    for the length of this command."""
    if settings.database_url:
        yield settings.database_url
        return
    running = EmbeddedPostgres.running_url(settings.data_dir)
    if running:
        yield running
        return
    server = EmbeddedPostgres(settings.data_dir, settings.embedded_pg_port)
    try:
        url = server.start()
    except EmbeddedPostgresError as exc:
        console.print(f"[red]Cannot start the embedded PostgreSQL:[/red] {exc}")
        raise typer.Exit(1) from exc
    try:
        yield url
    finally:
        server.stop()
