"""Operational endpoints: health, Prometheus metrics, the channels' state."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fte import __version__
from fte.auth.dependencies import AdminDep
from fte.config import Settings, SettingsDep
from fte.db import PoolDep
from fte.ops import scrape
from fte.ops.channel_report import channel_report
from fte.ops.health import health_report

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(request: Request, pool: PoolDep) -> JSONResponse:
    """Database, queue and channel state; 503 when the database is unreachable."""
    status, report = await health_report(
        pool, request.app.state.adapters, request.app.state.settings, request.app.state.cache
    )
    report["version"] = __version__
    return JSONResponse(report, status_code=status, headers={"Cache-Control": "no-store"})


def _metrics_refusal(request: Request, settings: Settings) -> JSONResponse | None:
    """None when the caller may read /metrics: it carries FTE_METRICS_TOKEN as a Bearer
    token. Without a configured token nobody may (404: the counts are not public by default)."""
    if not settings.metrics_token:
        return JSONResponse({"error": "not found", "detail": None}, status_code=404)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # As bytes: compare_digest refuses non-ASCII str, and a header is latin-1 on the wire.
    if scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1"), settings.metrics_token.encode()
    ):
        return None
    return JSONResponse(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <FTE_METRICS_TOKEN>"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request, pool: PoolDep, settings: SettingsDep) -> Response:
    """Prometheus text format: request and ticket counters, queue and ticket gauges."""
    refused = _metrics_refusal(request, settings)
    if refused is not None:
        return refused
    body = scrape.exposition(await scrape.database_gauges(pool))
    return Response(body, media_type=scrape.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


@router.get("/metrics/channels")
async def channels(request: Request, pool: PoolDep, _: AdminDep) -> dict[str, Any]:
    """Per channel: configured, delivery breaker, messages in/out and failures in 24 h."""
    since = datetime.now(UTC) - timedelta(hours=24)
    async with pool.acquire() as conn:
        report = await channel_report(conn, request.app.state.adapters, since)
    return {"since": since.isoformat(), "channels": report}


@router.get("/api/admin/cache/stats", summary="The cache's hits, misses and hit rate")
async def cache_stats(request: Request, _: AdminDep) -> dict[str, Any]:
    """This API process's cache since it started: backend (`redis` or `memory`), status
    (`ok`, `memory`, `degraded`), hits, misses, hit rate, Redis errors, and its breaker."""
    stats: dict[str, Any] = request.app.state.cache.stats()
    return stats


@router.get("/api/admin/db/pool", summary="This API process's database connection pool")
async def db_pool(pool: PoolDep, _: AdminDep) -> dict[str, int]:
    """Connections open (`size`), `idle`, `in_use`, and the pool's `min` and `max`."""
    size, idle = pool.get_size(), pool.get_idle_size()
    return {
        "size": size,
        "idle": idle,
        "in_use": size - idle,
        "min": pool.get_min_size(),
        "max": pool.get_max_size(),
    }
