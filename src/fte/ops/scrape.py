"""The Prometheus metrics contract (docs/architecture.md, "Metrics"): the gauges read from the
database at scrape time, and the scrape itself. The counters and histograms bumped where the
event happens are in `fte.kit.metrics`.

In multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`, set by `fte serve` when N > 1) a scrape adds
up the files every process writes, so any process answers with the totals of all of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import asyncpg
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from fte.bus import topics
from fte.channels import state as channel_state
from fte.db import DB_ERRORS
from fte.kit.metrics import MULTIPROC_ENV
from fte.ops import repository

log = logging.getLogger(__name__)

SCRAPE_DB_TIMEOUT: Final = 1.0  # a scrape must not hang on a slow database
# Queue topics always reported (0 when empty), so alerts see a series before the first job.
STATUSES: Final = ("open", "pending", "escalated", "resolved", "closed")
BREAKER_VALUES: Final = {"closed": 0, "half_open": 1, "open": 2}


class _Snapshot:
    """Database gauges as read for one scrape (a collector for a throwaway registry)."""

    def __init__(self, families: list[Metric]):
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def _read_gauges(conn: asyncpg.Connection) -> list[Metric]:
    depth = GaugeMetricFamily(
        "fte_queue_depth", "Messages waiting in the outbox queue.", labels=["topic"]
    )
    age = GaugeMetricFamily(
        "fte_queue_oldest_age_seconds", "Age of the oldest waiting message.", labels=["topic"]
    )
    waiting = await repository.waiting_by_topic(conn)
    for topic in sorted(set(topics.ALL) | set(waiting)):
        row = waiting.get(topic)
        depth.add_metric([topic], float(row["n"]) if row else 0.0)
        age.add_metric([topic], float(row["age"] or 0) if row else 0.0)
    open_tickets = GaugeMetricFamily("fte_open_tickets", "Tickets per status.", labels=["status"])
    counts = await repository.tickets_by_status(conn)
    for status in sorted(set(STATUSES) | set(counts)):
        open_tickets.add_metric([status], float(counts.get(status, 0)))
    breakers = GaugeMetricFamily(
        "fte_breaker_state",
        "Circuit breaker: 0 closed, 1 half-open, 2 open.",
        labels=["name"],
    )
    for channel, state in (await repository.breaker_states(conn)).items():
        breakers.add_metric([channel], float(BREAKER_VALUES.get(state, 2)))
    disabled = GaugeMetricFamily(
        "fte_channel_disabled",
        "1 while the channel is disabled because its provider refused our credentials.",
        labels=["channel"],
    )
    for channel in await channel_state.disabled(conn):
        disabled.add_metric([channel], 1.0)
    return [depth, age, open_tickets, breakers, disabled]


async def database_gauges(pool: asyncpg.Pool) -> list[Metric]:
    """The gauges that are database state; none when the database does not answer in time."""

    async def probe() -> list[Metric]:
        async with pool.acquire(timeout=SCRAPE_DB_TIMEOUT) as conn:
            return await _read_gauges(conn)

    try:
        return await asyncio.wait_for(probe(), timeout=SCRAPE_DB_TIMEOUT)
    except DB_ERRORS as exc:
        log.warning("metrics scrape without database gauges: %s", type(exc).__name__)
        return []


def exposition(db_families: Iterable[Metric]) -> bytes:
    """The text a scrape gets: this process's registry (or every process's, in multiprocess
    mode), then the database gauges."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        # Memory is per process: the answering one's, as a single-process API would report.
        ProcessCollector(registry=registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(list(db_families)))
    return counted + generate_latest(snapshot)


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(path: Path) -> Path:
    """An empty directory for the API processes' metric files. Files of an earlier run are
    removed: their counts belong to processes that no longer exist (a restart resets
    counters, which Prometheus' rate() expects)."""
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.db"):
        old.unlink()
    return path
