"""/health: the cheap checks of `fte doctor` (the same functions), within 2 seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import asyncpg

from fte.config import Settings
from fte.kit.cache import Cache
from fte.messaging import ChannelAdapter
from fte.ops.checks import CHEAP, Context, Result, Status, run_checks

CHECK_TIMEOUT = 1.5  # /health must answer within 2 s even when the database hangs


def channel_state(
    adapter: ChannelAdapter,
    breakers: dict[str, str],
    problems: dict[str, str] | None = None,
    disabled: Collection[str] = (),
) -> str:
    """`inactive` (not configured), `disabled` (the provider refused our credentials),
    `degraded` (its delivery breaker is not closed, or the adapter reports a problem of its
    own), `active`."""
    if not adapter.is_configured():
        return "inactive"
    if adapter.name in disabled:
        return "disabled"
    if breakers.get(adapter.name, "closed") != "closed" or adapter.name in (problems or {}):
        return "degraded"
    return "active"


def _queue(results: dict[str, Result]) -> dict[str, Any]:
    queue = results["queue"]
    if queue.status == Status.SKIP or (queue.status == Status.FAIL and not queue.data):
        return {"backend": "postgres", "status": "unknown"}
    data = {k: v for k, v in queue.data.items() if k != "breakers"}
    if data.get("backend") == "kafka":
        data["status"] = "ok" if results["kafka"].status == Status.PASS else "degraded"
    return data


def _channel_problems(results: dict[str, Result]) -> dict[str, str]:
    """Channels whose own check (e.g. the Gmail watch) warns or fails, with what it saw."""
    return {
        name.removeprefix("channel_"): result.summary
        for name, result in results.items()
        if name.startswith("channel_") and result.status in (Status.WARN, Status.FAIL)
    }


async def health_report(
    pool: asyncpg.Pool,
    adapters: dict[str, ChannelAdapter],
    settings: Settings,
    cache: Cache | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, report). 503 when the database cannot be reached; with Kafka away the
    queue is `degraded` (intake goes on, rows wait in the outbox) but the status stays 200."""
    ctx = Context(settings=settings, pool=pool, adapters=adapters, cache=cache)
    try:
        results = await asyncio.wait_for(run_checks(CHEAP, ctx, CHECK_TIMEOUT), 1.9)
    except TimeoutError:
        results = {c.name: Result(Status.FAIL, "timed out", name=c.name) for c in CHEAP}
    db_ok = results["database"].status != Status.FAIL
    breakers = results["queue"].data.get("breakers", {})
    problems = _channel_problems(results)
    disabled = results["channels"].data.get("disabled", {})
    report: dict[str, Any] = {
        "status": "ok" if db_ok else "down",
        "database": "active" if db_ok else "inactive",
        "queue": _queue(results),
        # ok (Redis), memory (in-process), degraded (Redis away: reads from PostgreSQL).
        "cache": results["cache"].data.get("status", "degraded"),
        "channels": {
            name: channel_state(adapter, breakers, problems, disabled)
            for name, adapter in adapters.items()
        },
    }
    workers = results.get("workers")
    if workers is not None and workers.data:
        data = workers.data
        report["workers"] = {
            "alive": data["alive"],
            "dead": data["dead"],
            "waiting": data["waiting"],
            "last_beat_seconds": data["last_beat_seconds"],
            "status": workers.status.value,
        }
    customers = results.get("customer_data")
    if customers is not None and customers.data:  # data freshness (docs/customer-data.md)
        report["customers"] = {
            k: customers.data[k] for k in ("last_sync_at", "customers_loaded", "orders")
        }
    if problems:
        report["channel_problems"] = problems
    if disabled:
        report["channels_disabled"] = disabled
    if db_ok:  # this API process's connection pool, for `fte doctor` and dashboards
        data = results["database"].data
        report["pool"] = {"in_use": data["pool_in_use"], "max": data["pool_max"]}
    return (200 if db_ok else 503), report
