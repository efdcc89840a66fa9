"""What every command needs: settings, logging, and a database URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import asyncpg
import typer
from rich.console import Console

from fte.config import Settings, get_settings
from fte.db import create_pool, transaction
from fte.errors import FteError
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError

console = Console(stderr=True)
T = TypeVar("T")


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


def run_in_transaction(
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    refused: tuple[int, ...],
    migrate: bool = False,
) -> T:
    """Run `work` in one transaction on the configured database (migrated first if asked).
    An FteError is printed and exits 1 when its HTTP status is among `refused` (the data's
    state forbids it: unknown, conflicting), else 2 (bad input)."""

    async def go(url: str) -> T:
        pool = await create_pool(url, min_size=1, max_size=1)
        try:
            async with transaction(pool) as conn:
                return await work(conn)
        finally:
            await pool.close()

    with database_url(get_settings()) as url:
        if migrate:
            migrations.upgrade(url)
        try:
            return asyncio.run(go(url))
        except FteError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(1 if exc.status_code in refused else 2) from exc
