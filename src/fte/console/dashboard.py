"""The dashboard: what the agent and the team did over a period, read from the tables that
record it (tickets, agent runs, messages, the queue), drawn as server-side SVG."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from fte.auth.dependencies import SessionDep
from fte.bus import dead_letters, postgres_queue
from fte.console import queries
from fte.console.gaps import knowledge_gaps
from fte.console.templates_env import templates
from fte.db import PoolDep
from fte.delivery import repository as delivery

PERIODS: Final = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}

router = APIRouter(tags=["console"])


async def _queue(pool: asyncpg.Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await postgres_queue.stats(conn)


async def figures(pool: asyncpg.Pool, since: datetime) -> dict[str, Any]:
    """Every number the dashboard shows, for tickets opened and runs made since `since`."""
    # Independent queries, each on its own pooled connection: PostgreSQL runs them on all
    # cores at once (the page waits for the slowest, not for the sum).
    (
        by_channel, per_day, decisions, reasons, times, resolved_by_ai, sentiment, queue
    ) = await asyncio.gather(
        queries.tickets_by_channel(pool, since), queries.tickets_per_day(pool, since),
        queries.runs_by_decision(pool, since), queries.escalation_reasons(pool, since),
        queries.ticket_times(pool, since), queries.resolved_by_ai(pool, since),
        queries.inbound_sentiment(pool, since), _queue(pool),
    )  # fmt: skip
    runs = {r["decision"]: r["n"] for r in decisions}
    total_runs = sum(runs.values())
    return {
        "by_channel": [(r["channel"], r["n"]) for r in by_channel],
        "per_day": [(r["day"].strftime("%m-%d"), r["n"]) for r in per_day],
        "decisions": runs,
        "escalation_rate": runs.get("escalate", 0) / total_runs if total_runs else None,
        "reasons": [(r["reason"] or "unknown", r["n"]) for r in reasons],
        "tickets": times["tickets"],
        "ai_resolution_rate": (resolved_by_ai / times["tickets"] if times["tickets"] else None),
        "first_response": (times["first_p50"], times["first_p95"]),
        "resolution": (times["resolve_p50"], times["resolve_p95"]),
        "sentiment": {r["sentiment"]: r["n"] for r in sentiment},
        "queue": queue,
    }


@router.get("/console/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    pool: PoolDep,
    session: SessionDep,
    period: Annotated[str, Query()] = "7d",
) -> HTMLResponse:
    period = period if period in PERIODS else "7d"
    since = datetime.now(UTC) - timedelta(days=PERIODS[period])
    data = await figures(pool, since)
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
