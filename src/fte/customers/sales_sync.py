"""The sales sync: read the orders that changed since the last run from the company's own
database (FTE_SALES_DATABASE_URL, FTE_SALES_QUERY) and store them like an import.

One run at a time across every process: a run holds a PostgreSQL advisory lock on our database
(a second is refused: `SyncAlreadyRunning`, 409). A run is a `sales_sync_runs` row (running,
then succeeded or failed with its rows, cursor and error). Rows are read through a server-side
cursor in batches and staged by COPY; the whole run is one transaction on our side, under a
total timeout, so a failed or timed-out run leaves nothing half-written and the next run starts
from the same cursor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from fte.config import Settings
from fte.customers import importer
from fte.customers import order_repository as repo
from fte.customers import sync_repository as runs
from fte.customers.orders import COLUMNS, REQUIRED, UpsertSummary
from fte.customers.refresh import after_orders_changed
from fte.db import asyncpg_dsn, transaction
from fte.errors import FteError
from fte.kit import metrics

log = logging.getLogger(__name__)

BATCH = 5_000  # rows fetched from the sales database per round trip, and staged per COPY
CHANGE_MARKER = "changed_at"
SHOWN_ERRORS = 5  # bad rows named in a failed run's error


class SyncNotConfigured(FteError):
    status_code = 400

    def __init__(self) -> None:
        super().__init__(
            "no sales database configured",
            detail="set FTE_SALES_DATABASE_URL and FTE_SALES_QUERY (docs/customer-data.md)",
        )


class SyncAlreadyRunning(FteError):
    status_code = 409

    def __init__(self) -> None:
        super().__init__("a sales sync is running already", detail="wait for it to finish")


class SyncFailed(Exception):
    """A run that could not complete, with the reason stored on its row."""


@dataclass(frozen=True)
class SyncOutcome:
    run_id: int
    status: str
    rows: int
    cursor: str | None
    error: str | None
    summary: UpsertSummary | None
    seconds: float


def as_text(value: Any) -> str | None:
    """A value of the sales database as the text the import rules read."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def cursor_value(kind: str, text: str | None) -> Any:
    """The stored cursor as the query's `$1` expects it (its type, as PostgreSQL infers it)."""
    if text is None:
        return None
    if kind in ("timestamptz", "timestamp"):
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind in ("int2", "int4", "int8"):
        return int(text)
    if kind == "numeric":
        return Decimal(text)
    return text


class SalesSync:
    """One run: `claim()` takes the lock and opens the run's row, `run()` does the work and
    always closes both."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, trigger: str):
        if not settings.sales_sync_configured:
            raise SyncNotConfigured()
        self.pool = pool
        self.settings = settings
        self.trigger = trigger
        self.run_id = 0
        self._lock: Any = None  # the pooled connection holding the advisory lock

    async def claim(self, due_after_seconds: float | None = None) -> bool:
        """Take the lock and open a run; SyncAlreadyRunning when another run holds it. With
        `due_after_seconds` (the schedule), False and no run when one started more recently."""
        conn = await self.pool.acquire(timeout=10)
        try:
            if not await runs.try_lock(conn):
                metrics.SALES_SYNC_RUNS.labels("refused").inc()
                raise SyncAlreadyRunning()
            try:
                if due_after_seconds and await runs.started_within(conn, due_after_seconds):
                    await runs.unlock(conn)
                    await self.pool.release(conn)
                    return False
                self.run_id = await runs.start_run(conn, self.trigger)
            except BaseException:
                await runs.unlock(conn)
                raise
        except BaseException:
            await self.pool.release(conn)
            raise
        self._lock = conn
        log.info("sales sync run %d started (%s)", self.run_id, self.trigger)
        return True

    async def run(self) -> SyncOutcome:
        """Read, check and store what changed; the run's row says how it went."""
        assert self._lock is not None, "claim() first"
        started = time.perf_counter()
        conn = self._lock
        rows, cursor, summary, error = 0, None, None, None
        try:
            cursor = await runs.last_cursor(conn)
            try:
                async with asyncio.timeout(self.settings.sales_sync_timeout_seconds):
                    summary, rows, cursor = await self._load(cursor)
            except TimeoutError:
                error = f"timed out after {self.settings.sales_sync_timeout_seconds:g} s"
            except (SyncFailed, importer.ImportRejected) as exc:
                error = str(exc) if isinstance(exc, SyncFailed) else _rejected(exc)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # the run's row must end, and a worker must not die
                log.exception("sales sync run %d: unexpected error", self.run_id)
                error = f"{type(exc).__name__}: {exc}"
            status = "failed" if error else "succeeded"
            await runs.finish_run(conn, self.run_id, status, rows, cursor, error)
        finally:
            try:
                await runs.unlock(conn)
            finally:
                await self.pool.release(conn)
                self._lock = None
        seconds = time.perf_counter() - started
        metrics.SALES_SYNC_RUNS.labels(status).inc()
        metrics.SALES_SYNC_SECONDS.observe(seconds)
        if error:
            log.error("sales sync run %d failed after %.1f s: %s", self.run_id, seconds, error)
        else:
            metrics.SALES_SYNC_LAST_SUCCESS.set(time.time())
            assert summary is not None
            log.info(
                "sales sync run %d succeeded in %.1f s: %d rows, %s",
                self.run_id,
                seconds,
                rows,
                summary.as_json(),
            )
            if summary.changed:
                await after_orders_changed(self.pool)
        return SyncOutcome(self.run_id, status, rows, cursor, error, summary, seconds)

    async def _load(self, cursor: str | None) -> tuple[UpsertSummary, int, str | None]:
        assert self.settings.sales_database_url and self.settings.sales_query
        try:
            sales = await asyncpg.connect(asyncpg_dsn(self.settings.sales_database_url), timeout=30)
        except (OSError, asyncpg.PostgresError) as exc:
            raise SyncFailed(f"cannot reach the sales database: {type(exc).__name__}") from exc
        try:
            async with transaction(self.pool) as conn:
                await repo.create_staging(conn)
                rows, marker = await self._read(sales, conn, cursor)
                await importer.check_staged(conn, 1)
                summary = await importer.store_staged(conn, rows, "sync", 1)
            return summary, rows, marker
        finally:
            sales.terminate()  # a cancelled query is not waited for

    async def _read(
        self, sales: asyncpg.Connection, conn: asyncpg.Connection, cursor: str | None
    ) -> tuple[int, str | None]:
        """Stream the query's rows into the staging table; (rows, largest change marker)."""
        assert self.settings.sales_query
        async with sales.transaction(readonly=True, isolation="repeatable_read"):
            try:
                statement = await sales.prepare(self.settings.sales_query)
            except asyncpg.PostgresError as exc:
                raise SyncFailed(f"FTE_SALES_QUERY is refused: {exc}") from exc
            names = [a.name for a in statement.get_attributes()]
            missing = [c for c in (*REQUIRED, CHANGE_MARKER) if c not in names]
            if "email" not in names and "external_id" not in names:
                missing.append("email or external_id")
            if missing:
                raise SyncFailed(f"FTE_SALES_QUERY returns no column {', '.join(missing)}")
            params = statement.get_parameters()
            args = [cursor_value(params[0].name, cursor)] if params else []
            positions = [names.index(c) if c in names else None for c in COLUMNS]
            marker_at = names.index(CHANGE_MARKER)
            rows, marker = 0, None
            reader = await statement.cursor(*args)
            while batch := await reader.fetch(BATCH):
                records = [
                    tuple(None if p is None else as_text(r[p]) for p in positions) for r in batch
                ]
                await repo.copy_records(conn, records)
                for r in batch:
                    if r[marker_at] is not None and (marker is None or r[marker_at] > marker):
                        marker = r[marker_at]
                rows += len(batch)
                metrics.SALES_SYNC_ROWS.inc(len(batch))
                log.info("sales sync run %d: %d rows read", self.run_id, rows)
        return rows, (as_text(marker) if marker is not None else cursor)


def _rejected(exc: importer.ImportRejected) -> str:
    shown = "; ".join(f"row {e.line}: {e.field}: {e.reason}" for e in exc.errors[:SHOWN_ERRORS])
    return f"{exc.bad_rows} bad row(s) in the query's result, nothing stored: {shown}"


async def sync_now(pool: asyncpg.Pool, settings: Settings, trigger: str) -> SyncOutcome:
    """Run one sync to its end (the CLI); SyncAlreadyRunning when one is running."""
    sync = SalesSync(pool, settings, trigger)
    await sync.claim()
    return await sync.run()
