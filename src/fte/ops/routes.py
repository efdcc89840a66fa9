"""Operational endpoints: health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fte import __version__
from fte.db import PoolDep
from fte.ops.health import health_report

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health(request: Request, pool: PoolDep) -> JSONResponse:
    """Database, queue and channel state; 503 when the database is unreachable."""
    status, report = await health_report(
        pool, request.app.state.adapters, request.app.state.settings
    )
    report["version"] = __version__
    return JSONResponse(report, status_code=status, headers={"Cache-Control": "no-store"})
