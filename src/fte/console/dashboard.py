"""The dashboard: what the agent and the team did over a period, read from the tables that
record it (tickets, agent runs, messages, the queue), drawn as server-side SVG."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from fte.auth.dependencies import SessionDep
from fte.bus import dead_letters, postgres_queue
from fte.console import rollups
from fte.console.gaps import knowledge_gaps
from fte.console.templates_env import templates
from fte.db import PoolDep
from fte.delivery import repository as delivery

PERIODS: Final = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}

router = APIRouter(tags=["console"])


async def _queue(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await postgres_queue.stats(conn)


async def figures(pool: asyncpg.Pool, days: int, *, live: bool = False) -> dict[str, Any]:
    """Every number the dashboard shows for the last `days` full days (UTC) and today (`live`:
    computed from the base tables only, without the daily roll-ups: the bench's baseline)."""
    (first, per_day), queue = await asyncio.gather(
        rollups.period(pool, days, live=live), _queue(pool)
    )
    total = rollups.Figures()
    for _, day in per_day:
        total.add(day)
    runs = dict(total.decisions)
    total_runs = sum(runs.values())
    responded = total.first_response_hist
    return {
        "since": datetime.combine(first, datetime.min.time(), UTC),
        "by_channel": total.opened_by_channel.most_common(),
        "per_day": [(day.strftime("%m-%d"), f.opened) for day, f in per_day],
        "decisions": runs,
        "escalation_rate": runs.get("escalate", 0) / total_runs if total_runs else None,
        "reasons": total.escalation_reasons.most_common(),
        "tickets": total.opened,
        "resolved": total.resolved,
        "resolved_by_ai": total.resolved_by_ai,
        "ai_resolution_rate": (total.resolved_by_ai / total.resolved if total.resolved else None),
        "csat": {
            "ratings": total.ratings,
            "average": total.rating_sum / total.ratings if total.ratings else None,
            "good_share": total.ratings_good / total.ratings if total.ratings else None,
        },
        "responded": sum(responded.values()),
        "first_response": _p50_p90(responded),
        "resolution": _p50_p90(total.resolution_hist),
        "sentiment": dict(total.sentiment),
        "queue": queue,
    }


def _p50_p90(hist: Mapping[int, int]) -> tuple[float | None, float | None]:
    return rollups.percentile(hist, 0.5), rollups.percentile(hist, 0.9)


@router.get("/console/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    pool: PoolDep,
    session: SessionDep,
    period: Annotated[str, Query()] = "7d",
) -> HTMLResponse:
    period = period if period in PERIODS else "7d"
    data = await figures(pool, PERIODS[period])
    since = data["since"]
    async with pool.acquire() as conn:
        gaps, gap_questions = await knowledge_gaps(conn, since)
        breakers = await delivery.breaker_details(conn)
        dead = await dead_letters.list_open(conn, limit=10)
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "session": session,
            "period": period,
            "periods": list(PERIODS),
            "f": data,
            "gaps": gaps,
            "gap_questions": gap_questions,
            "breakers": breakers,
            "dead_letters": dead,
        },
    )
