"""What a check is: a function of a `Context` that returns a `Result` (PASS / WARN / FAIL /
SKIP, what it saw, and the fix to try). `fte doctor` runs all of them, /health the cheap ones."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from fte.config import Settings
from fte.db import DB_ERRORS as DB_ERRORS  # the checks import it with the rest of a check
from fte.kit.cache import Cache
from fte.messaging import ChannelAdapter


class Status(enum.StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # not configured here, or it needs something that failed


@dataclass(frozen=True)
class Result:
    """One check's verdict; `data` holds the figures (what /health reports)."""

    status: Status
    summary: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    name: str = ""


def passed(summary: str, **data: Any) -> Result:
    return Result(Status.PASS, summary, data=data)


def warn(summary: str, fix: str, **data: Any) -> Result:
    return Result(Status.WARN, summary, fix, data=data)


def fail(summary: str, fix: str, **data: Any) -> Result:
    return Result(Status.FAIL, summary, fix, data=data)


def skip(summary: str) -> Result:
    return Result(Status.SKIP, summary)


@dataclass
class Context:
    """What the checks look at: the settings, a pool on the database (None: none found), the
    API's URL (None: the API is not checked), the channel adapters."""

    settings: Settings
    pool: asyncpg.Pool | None
    adapters: dict[str, ChannelAdapter]
    api_url: str | None = None
    # Why there is no pool, said by the database check.
    no_database: str = "no database configured"
    # The API process's cache (None: the check opens its own connection to Redis).
    cache: Cache | None = None


CheckFn = Callable[[Context], Awaitable[Result]]


@dataclass(frozen=True)
class Check:
    """A registry entry. `cheap`: fast enough for /health (one short query or a TCP connect).
    `needs_database`: skipped when the database check failed."""

    name: str
    run: CheckFn
    cheap: bool = False
    needs_database: bool = True
    # Seconds it may take, when longer than the runner's (loading a model).
    timeout: float | None = None


async def run_checks(
    checks: list[Check],
    ctx: Context,
    timeout: float,  # noqa: ASYNC109 (per check, not overall)
) -> dict[str, Result]:
    """Run the database check first, the rest concurrently, each within `timeout` seconds; an
    exception or a timeout is that check's FAIL, never the report's end."""
    results: dict[str, Result] = {}

    async def one(check: Check) -> Result:
        try:
            limit = max(timeout, check.timeout or 0)
            result = await asyncio.wait_for(check.run(ctx), limit)
        except TimeoutError:
            result = fail(f"no answer within {limit:g} s", "see the section of this check")
        except Exception as exc:  # a check must never take the report down with it
            result = fail(f"{type(exc).__name__}: {exc}", "see the section of this check")
        return replace(result, name=check.name)

    first = [c for c in checks if c.name == "database"]
    for check in first:
        results[check.name] = await one(check)
    db_ok = all(results[c.name].status != Status.FAIL for c in first) and ctx.pool is not None
    rest = [c for c in checks if c.name != "database"]

    async def guarded(check: Check) -> Result:
        if check.needs_database and not db_ok:
            return replace(skip("needs the database"), name=check.name)
        return await one(check)

    for check, result in zip(rest, await asyncio.gather(*(guarded(c) for c in rest)), strict=True):
        results[check.name] = result
    return {c.name: results[c.name] for c in checks}
