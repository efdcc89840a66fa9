"""The Prometheus counters and histograms, bumped where the event happens (docs/architecture.md,
"Metrics"). They are here, below every package that counts, so that counting an event never
imports the operations code; `fte.ops.scrape` reads the database gauges and serves a scrape.

They live in prometheus_client's default REGISTRY. With `fte serve --workers N` each uvicorn
process counts on its own; `PROMETHEUS_MULTIPROC_DIR` (set by `fte serve` when N > 1) makes them
write to shared files that `/metrics` adds up.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

HTTP_DURATION = Histogram(
    "fte_http_request_duration_seconds",
    "API request time, by route template, method and status.",
    ["route", "method", "status"],
    # 0.5 and 2 are the latency SLOs' thresholds (deploy/prometheus/slo.yml).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10),
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
TICKETS_AUTO_RESOLVED = Counter(
    "fte_tickets_auto_resolved_total",
    "Tickets resolved after FTE_AUTO_RESOLVE_HOURS without a customer reply, by who solved them "
    "(ai: no person wrote on the ticket; person).",
    ["channel", "solved_by"],
)
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

# The bus and the workers: served by `fte worker` on FTE_METRICS_PORT.
RELAY_PUBLISHED = Counter(
    "fte_relay_published_total", "Outbox rows the broker acknowledged (acks=all)."
)
RELAY_BACKLOG = Gauge("fte_relay_backlog", "Outbox rows not yet published to Kafka.")
RELAY_LAG = Gauge(
    "fte_relay_lag_seconds", "Age of the oldest outbox row not yet published to Kafka."
)
CONSUMER_LAG = Gauge(
    "fte_kafka_consumer_lag",
    "Records of a partition this worker has not finished: from its first record not "
    "finished (or not read yet) to the partition's end.",
    ["topic", "partition"],
)
PROCESSED = Counter("fte_messages_processed_total", "Inbound messages handled and committed.")
FAILED = Counter("fte_messages_failed_total", "Failed attempts at handling an inbound message.")
PROCESSING_SECONDS = Histogram(
    "fte_message_processing_seconds",
    "Time from taking a batch to committing its outcome, per message.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STUCK_REDRIVEN = Counter(
    "fte_stuck_messages_total",
    "Messages found without an agent run after FTE_STUCK_AFTER_MINUTES, by what was done: "
    "redriven (re-enqueued) or dead_lettered (after FTE_STUCK_MAX_REDRIVES).",
    ["outcome"],
)
CHANNEL_DISABLED = Counter(
    "fte_channel_disabled_total",
    "Channels disabled because the provider refused our credentials.",
    ["channel"],
)

# Customer data: the sales sync (docs/customer-data.md), counted where it runs (a worker, or
# the API process that `POST /api/admin/sync` started it in).
SALES_SYNC_RUNS = Counter(
    "fte_sales_sync_runs_total",
    "Sales sync runs, by outcome: succeeded, failed, or refused (another run held the lock).",
    ["outcome"],
)
SALES_SYNC_ROWS = Counter("fte_sales_sync_rows_total", "Rows read from the sales database.")
SALES_SYNC_SECONDS = Histogram(
    "fte_sales_sync_duration_seconds",
    "Time of a sales sync run, lock to commit (or failure).",
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800),
)
SALES_SYNC_LAST_SUCCESS = Gauge(
    "fte_sales_sync_last_success_timestamp_seconds",
    "Unix time the last successful sales sync run of this process ended.",
)
