"""`fte doctor`: every check against this deployment, printed with the fix to try.

Exit codes: 0 every check passed (or was skipped), 1 at least one FAIL, 3 WARN but no FAIL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import create_pool
from fte.ops.checks import CHECKS, Check, Context, Result, Status, run_checks

EXIT_OK, EXIT_FAIL, EXIT_WARN = 0, 1, 3
CHECK_TIMEOUT = 15.0
_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim"}


@dataclass(frozen=True)
class Report:
    """The results, in registry order."""

    results: list[Result]

    @property
    def exit_code(self) -> int:
        statuses = {r.status for r in self.results}
        if Status.FAIL in statuses:
            return EXIT_FAIL
        return EXIT_WARN if Status.WARN in statuses else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "checks": [
                {
                    "name": r.name,
                    "status": r.status.value,
                    "summary": r.summary,
                    "fix": r.fix,
                    "data": r.data,
                }
                for r in self.results
            ],
        }

    def print(self, console: Console) -> None:
        table = Table(title="fte doctor", show_lines=False)
        table.add_column("check")
        table.add_column("status")
        table.add_column("what it saw")
        table.add_column("fix to try")
        for r in self.results:
            style = _STYLE[r.status]
            table.add_row(r.name, f"[{style}]{r.status.value}[/{style}]", r.summary, r.fix)
        console.print(table)
        counts = {s: sum(r.status == s for r in self.results) for s in Status}
        console.print(
            ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) + f"; exit {self.exit_code}"
        )


async def diagnose(
    settings: Settings,
    database_url: str | None,
    api_url: str | None,
    checks: list[Check] | None = None,
    no_database: str = "no database configured",
) -> Report:
    """Run the checks against this database (None: none found) and API."""
    pool: asyncpg.Pool | None = None
    if database_url is not None:
        # min_size 0: nothing is connected until a check asks, so a database that is down
        # becomes the database check's FAIL instead of an error here.
        pool = await create_pool(database_url, min_size=0, max_size=4)
    ctx = Context(
        settings=settings,
        pool=pool,
        adapters=build_registry(settings),
        api_url=api_url,
        no_database=no_database,
    )
    try:
        results = await run_checks(checks or CHECKS, ctx, CHECK_TIMEOUT)
    finally:
        if pool is not None:
            await pool.close()
    return Report(list(results.values()))


def dumps(report: Report) -> str:
    """The report as JSON (for --json)."""
    return json.dumps(report.to_json(), indent=2, default=str)
