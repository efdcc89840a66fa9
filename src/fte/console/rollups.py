"""The dashboard's figures for a period, from a roll-up per day.

A period of N days is the N full days (UTC) before today plus today so far. Days closed for
longer than `GRACE` are read from `ticket_daily`, rolled up lazily on read (the first view after
a day ends computes that one day; the first view after an upgrade computes them all) and
recomputed when a trigger marked them stale; the newer days are computed live. So a 90-day
dashboard reads at most 90 rolled-up rows and one or two live days, whatever the ticket count.

Percentiles cannot be added across days, so first-response and resolution times are kept per day
as counts in fixed log buckets (`rollups_repository.BUCKET_RATIO`), merged by adding counts; a
percentile read from the merged histogram is the bucket's geometric middle: within 4.9% of the
exact value (half a second under a second)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from fte.console import rollups_repository as repo
from fte.db import transaction

# A transaction writing to a day that just ended commits within this (requests time out at 30 s):
# the roll-up waits for it rather than missing its row.
GRACE = timedelta(minutes=5)


@dataclass
class Figures:
    """What happened on one day, or summed over several."""

    opened: int = 0
    opened_by_channel: Counter[str] = field(default_factory=Counter)
    resolved: int = 0
    resolved_by_ai: int = 0
    resolution_hist: Counter[int] = field(default_factory=Counter)
    first_response_hist: Counter[int] = field(default_factory=Counter)
    ratings: int = 0
    rating_sum: int = 0
    ratings_good: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    escalation_reasons: Counter[str] = field(default_factory=Counter)
    sentiment: Counter[str] = field(default_factory=Counter)

    def add(self, other: Figures) -> None:
        for name in repo.COLUMNS:
            mine = getattr(self, name)
            if isinstance(mine, Counter):
                mine.update(getattr(other, name))
            else:
                setattr(self, name, mine + getattr(other, name))

    def stored(self) -> dict[str, Any]:
        """As the roll-up table stores it (JSON object keys are strings)."""
        return {
            name: {str(k): v for k, v in value.items()} if isinstance(value, Counter) else value
            for name in repo.COLUMNS
            for value in [getattr(self, name)]
        }

    @classmethod
    def from_stored(cls, row: Mapping[str, Any]) -> Figures:
        day = cls(**{n: row[n] for n in repo.COLUMNS if not isinstance(row[n], dict)})
        for name in ("opened_by_channel", "decisions", "escalation_reasons", "sentiment"):
            getattr(day, name).update(row[name])
        for name in ("resolution_hist", "first_response_hist"):
            getattr(day, name).update({int(k): v for k, v in row[name].items()})
        return day


def percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank) of durations counted in log buckets, in seconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(q * total)), 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return 0.5 if bucket == 0 else float(repo.BUCKET_RATIO ** (bucket - 0.5))
    raise AssertionError("unreachable: the ranks add up to the total")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


async def compute(db: repo.Db, first: date, end: date) -> dict[date, Figures]:
    """Each day of `[first, end)` computed from the base tables (days with nothing included)."""
    lo, hi = _midnight(first), _midnight(end)
    queries = (
        repo.opened(db, lo, hi), repo.resolved(db, lo, hi), repo.first_responses(db, lo, hi),
        repo.ratings(db, lo, hi), repo.runs(db, lo, hi), repo.sentiment(db, lo, hi),
    )  # fmt: skip
    results: list[list[asyncpg.Record]]
    if isinstance(db, asyncpg.Pool):  # each on a connection of its own: on all cores at once
        results = list(await asyncio.gather(*queries))
    else:
        results = [await q for q in queries]
    opened, resolved, responded, rated, ran, felt = results
    days = {first + timedelta(days=i): Figures() for i in range((end - first).days)}
    for r in opened:
        days[r["day"]].opened += r["n"]
        days[r["day"]].opened_by_channel[r["channel"]] += r["n"]
    for r in resolved:
        days[r["day"]].resolved += r["n"]
        days[r["day"]].resolved_by_ai += r["ai"]
        days[r["day"]].resolution_hist[r["bucket"]] += r["n"]
    for r in responded:
        days[r["day"]].first_response_hist[r["bucket"]] += r["n"]
    for r in rated:
        d = days[r["day"]]
        d.ratings, d.rating_sum, d.ratings_good = r["ratings"], r["rating_sum"], r["good"]
    for r in ran:
        days[r["day"]].decisions[r["decision"]] += r["n"]
        if r["reason"] is not None:
            days[r["day"]].escalation_reasons[r["reason"]] += r["n"]
    for r in felt:
        days[r["day"]].sentiment[r["sentiment"]] += r["n"]
    return days


def _runs(days: Iterable[date], longest: int = 7) -> list[tuple[date, date]]:
    """Consecutive days as `[first, end)` ranges of at most `longest` days, so each is computed
    in one pass and no statement of a first roll-up at 1,000,000 tickets nears the pool's
    30-second command timeout."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] == day and (day - ranges[-1][0]).days < longest:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


async def roll_up(pool: asyncpg.Pool, first: date, end: date) -> int:
    """Roll up the days of `[first, end)` that are missing or stale; how many were computed."""
    if not await repo.needs_rolling(pool, first, end):
        return 0
    async with transaction(pool) as conn:
        await repo.lock(conn)  # a concurrent roll-up did the work meanwhile: nothing left to do
        stale = set(await repo.take_stale(conn, end))
        present = await repo.days_present(conn, first, end)
        wanted = {first + timedelta(days=i) for i in range((end - first).days)}
        todo = (wanted - present) | (stale & wanted)
        await repo.forget(conn, stale - wanted)
        for lo, hi in _runs(todo):
            days = await compute(conn, lo, hi)
            await repo.save(conn, [{"day": d, **f.stored()} for d, f in days.items()])
    return len(todo)


def horizon(now: datetime) -> date:
    """The first day computed live: days before it are closed (for longer than GRACE)."""
    return (now.astimezone(UTC) - GRACE).date()


async def period(
    pool: asyncpg.Pool, days: int, *, now: datetime | None = None, live: bool = False
) -> tuple[date, list[tuple[date, Figures]]]:
    """The first day of the period and each of its days' figures (`live`: every day from the
    base tables, the roll-up left alone)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    first, end = today - timedelta(days=days), today + timedelta(days=1)
    if live:
        return first, sorted((await compute(pool, first, end)).items())
    split = max(first, horizon(now))

    async def rolled() -> list[tuple[date, Figures]]:
        await roll_up(pool, first, split)
        return [
            (r["day"], Figures.from_stored(r)) for r in await repo.rolled_up(pool, first, split)
        ]

    older, recent = await asyncio.gather(rolled(), compute(pool, split, end))
    return first, [*older, *sorted(recent.items())]
