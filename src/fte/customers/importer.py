"""Orders from a file (CSV with a header line, or JSON Lines): COPY into a staging table, every
row checked, then stored in one set-based upsert, idempotent on the order id.

All of it runs in the caller's transaction, so a file with one bad row writes nothing: the
bad rows come back by line and field (`ImportRejected`). PostgreSQL parses the file (COPY)
and checks it (one scan): Python only streams bytes, which is what keeps an import of
millions of rows near the speed of a bare COPY (`bench/customers.py`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import asyncpg

from fte.customers import order_repository as repo
from fte.customers.orders import COLUMNS, REQUIRED, RowError, UpsertSummary, row_error
from fte.errors import FteError

Format = Literal["csv", "jsonl"]
FORMATS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
SHOWN_ERRORS = 100  # bad rows listed; the count covers them all
CHUNK = 1 << 20

# (phase, bytes read since the last call): "copy" while the file streams, then "check" and
# "store" once each.
Progress = Callable[[str, int], None]


class ImportRejected(FteError):
    """Rows that break a rule: nothing was written."""

    status_code = 422

    def __init__(self, errors: list[RowError], bad_rows: int):
        super().__init__(
            f"{bad_rows} bad row(s); nothing was imported",
            detail=[{"line": e.line, "field": e.field, "reason": e.reason} for e in errors],
        )
        self.errors = errors
        self.bad_rows = bad_rows


def file_format(path: Path, given: str | None) -> Format:
    """`given`, else the file's extension (.csv, .jsonl, .ndjson)."""
    if given in ("csv", "jsonl"):
        return given  # type: ignore[return-value]
    if given is not None:
        raise FteError(f"unknown format {given!r}: csv or jsonl")
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise FteError(f"cannot tell the format of {path.name}: give --format csv or jsonl")
    return found


def csv_columns(path: Path) -> list[str]:
    """The staging columns for a CSV file's header: ours by name (any case), any other as
    `ignored_N`. A header lacking a required column is refused, naming it (line 1)."""
    with path.open("rb") as f:  # the header line alone: COPY reads (and checks) the rest
        first = f.readline()
    try:
        header = next(csv.reader([first.decode("utf-8-sig")]), [])
    except UnicodeDecodeError:
        raise ImportRejected([RowError(1, "line", "not readable as csv: not UTF-8")], 1) from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if "email" not in names and "external_id" not in names:
        missing.append("email or external_id")
    if missing:
        errors = [RowError(1, c, "column missing from the header line") for c in missing]
        raise ImportRejected(errors, 1)
    seen: set[str] = set()
    columns = []
    for i, name in enumerate(names):
        columns.append(name if name in COLUMNS and name not in seen else f"ignored_{i}")
        seen.add(name)
    return columns


async def _chunks(path: Path, progress: Progress) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            progress("copy", len(chunk))
            yield chunk


def _unreadable(exc: asyncpg.DataError, fmt: Format) -> ImportRejected:
    """COPY stopped at a line it cannot read (a column too many or too few, an empty line,
    an unterminated quote, bytes that are not UTF-8): that line, named like a bad row."""
    found = re.search(r"\bline (\d+)", exc.as_dict().get("context") or "")
    line = int(found.group(1)) if found else 0
    return ImportRejected([RowError(line, "line", f"not readable as {fmt}: {exc}")], 1)


async def stage_file(conn: asyncpg.Connection, path: Path, fmt: Format, progress: Progress) -> int:
    """COPY the file into the staging table; the rows staged."""
    try:
        if fmt == "csv":
            columns = csv_columns(path)
            await repo.create_staging(conn, [*columns, *(c for c in COLUMNS if c not in columns)])
            return await repo.copy_csv(conn, _chunks(path, progress), columns)
        await repo.create_staging(conn)
        await repo.copy_json_lines(conn, _chunks(path, progress))
    except asyncpg.DataError as exc:
        raise _unreadable(exc, fmt) from None
    lines, bad = await repo.bad_json_lines(conn, SHOWN_ERRORS)
    if bad:
        raise ImportRejected([row_error(line, "line:json") for line in lines], bad)
    return await repo.stage_json_lines(conn)


async def check_staged(conn: asyncpg.Connection, first_line: int) -> None:
    """Every staged row against the rules; ImportRejected naming the bad ones. `first_line`:
    the file's line of the first row (2 under a CSV header)."""
    found, bad = await repo.bad_rows(conn, SHOWN_ERRORS)
    if bad:
        errors = [row_error(line + first_line - 1, code) for line, code in found]
        raise ImportRejected(errors, bad)


async def store_staged(
    conn: asyncpg.Connection, rows: int, source: str, first_line: int
) -> UpsertSummary:
    """Upsert the checked rows; a repeated order id is refused like a bad row."""
    try:
        return await repo.upsert_staged(conn, rows, source)
    except repo.DuplicateOrders as exc:
        errors = [
            RowError(line + first_line - 1, "order_id", f"{order_id!r} appears on an earlier line")
            for line, order_id in exc.repeats
        ]
        raise ImportRejected(errors, len(exc.repeats)) from None


async def import_file(
    conn: asyncpg.Connection,
    path: Path,
    fmt: Format,
    progress: Progress = lambda phase, n: None,
) -> UpsertSummary:
    """Import a file of orders in the caller's transaction; ImportRejected (nothing written)
    when any row is bad."""
    rows = await stage_file(conn, path, fmt, progress)
    first_line = 2 if fmt == "csv" else 1
    progress("check", 0)
    await check_staged(conn, first_line)
    progress("store", 0)
    return await store_staged(conn, rows, "import", first_line)
