"""`fte doctor`: every check the runbook lists, PASS / WARN / FAIL with the fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from fte.cli.context import console
from fte.config import get_settings
from fte.ops import doctor as doctors
from fte.ops.embedded_postgres import EmbeddedPostgres


def doctor(
    url: str | None = typer.Option(
        None,
        "--url",
        help="The API to check (its /health); default http://FTE_HOST:FTE_PORT.",
    ),
    as_json: str | None = typer.Option(
        None,
        "--json",
        help="Also write the report as JSON to this file (`-` for stdout, then no table).",
    ),
) -> None:
    """Check the deployment: API, database, bus, LLM, channels, model, stuck tickets, dead
    letters, disk. The database is DATABASE_URL, else the embedded one `fte up` runs (never
    started by the doctor).

    Exit codes: 0 all PASS (SKIP: not configured here), 1 at least one FAIL, 3 WARN and no
    FAIL, 2 bad usage."""
    settings = get_settings()
    database_url = settings.database_url or EmbeddedPostgres.running_url(settings.data_dir)
    api_url = url or f"http://{settings.host}:{settings.port}"
    report = asyncio.run(
        doctors.diagnose(
            settings,
            database_url,
            api_url,
            no_database=(
                f"the embedded PostgreSQL under {settings.data_dir} is not running"
                " and DATABASE_URL is unset"
            ),
        )
    )
    if as_json == "-":
        typer.echo(doctors.dumps(report))
    else:
        report.print(console)
        if as_json:
            Path(as_json).write_text(doctors.dumps(report) + "\n")
    raise typer.Exit(report.exit_code)
