"""The Prometheus metrics contract (docs/architecture.md, "Metrics"): counters and histograms
bumped where the event happens, and the gauges read from the database at scrape time.

Counters live in prometheus_client's default REGISTRY. With `fte serve --workers N` each
uvicorn process counts on its own; `PROMETHEUS_MULTIPROC_DIR` (set by `fte serve` when N > 1)
makes them write to shared files that `/metrics` adds up, so any process answers a scrape
with the totals of all of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from fte.channels import state as channel_state

log = logging.getLogger(__name__)

SCRAPE_DB_TIMEOUT: Final = 1.0  # a scrape must not hang on a slow database
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# Queue topics always reported (0 when empty), so alerts see a series before the first job.
TOPICS: Final = ("inbound", "deliver", "learn", "kb_embed")
STATUSES: Final = ("open", "pending", "escalated", "resolved", "closed")
BREAKER_VALUES: Final = {"closed": 0, "half_open": 1, "open": 2}

HTTP_DURATION = Histogram(
    "fte_http_request_duration_seconds",
    "API request time, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_REQUESTS = Counter(
    "fte_http_requests_total", "API requests, by route template, method and status.",
    ["route", "method", "status"],
)  # fmt: skip
LOGIN_FAILURES = Counter(
    "fte_login_failures_total",
    "Refused console sign-ins, by reason: credentials, csrf, address_limit, account_limit.",
    ["reason"],
)
TICKETS_CREATED = Counter("fte_tickets_created_total", "Tickets opened.", ["channel"])
TICKETS_ESCALATED = Counter(
    "fte_tickets_escalated_total", "Tickets handed to a human, by reason.", ["channel", "reason"]
)
TICKETS_RESOLVED = Counter("fte_tickets_resolved_total", "Tickets resolved.", ["channel"])
AGENT_DECISION = Histogram(
    "fte_agent_decision_seconds",
    "Agent run time, by decision (answer, escalate, draft).",
    ["decision"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERY_FAILURES = Counter(
    "fte_delivery_failures_total", "Failed send attempts of replies.", ["channel"]
)
DEAD_LETTERS = Counter(
    "fte_dead_letters_total", "Jobs moved to the dead letters after their last attempt.", ["topic"]
)


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
    waiting = {
        r["topic"]: r
        for r in await conn.fetch(
            "SELECT topic, count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age "
            "FROM outbox WHERE processed_at IS NULL GROUP BY topic"
        )
    }
    for topic in sorted(set(TOPICS) | set(waiting)):
        row = waiting.get(topic)
        depth.add_metric([topic], float(row["n"]) if row else 0.0)
        age.add_metric([topic], float(row["age"] or 0) if row else 0.0)
    open_tickets = GaugeMetricFamily("fte_open_tickets", "Tickets per status.", labels=["status"])
    counts = {
        r["status"]: r["n"]
        for r in await conn.fetch("SELECT status, count(*) AS n FROM tickets GROUP BY status")
    }
    for status in sorted(set(STATUSES) | set(counts)):
        open_tickets.add_metric([status], float(counts.get(status, 0)))
    breakers = GaugeMetricFamily(
        "fte_breaker_state",
        "Circuit breaker: 0 closed, 1 half-open, 2 open.",
        labels=["name"],
    )
    for row in await conn.fetch("SELECT channel, breaker FROM channel_health ORDER BY channel"):
        breakers.add_metric([row["channel"]], float(BREAKER_VALUES.get(row["breaker"], 2)))
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
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
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
