"""Prometheus metrics of the bus and the workers (served by `fte worker` on FTE_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from fte.ops.metrics import DEAD_LETTERS

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
# Counted by the queue itself (bus/postgres_queue.dead_letter), for every topic.
DEAD_LETTERED = DEAD_LETTERS
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
