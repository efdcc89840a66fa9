"""Every check `fte doctor` runs, in the order it prints them; /health runs the `cheap` ones.

Adding a check: write `async def check_x(ctx: Context) -> Result` in the module of its topic,
and add one line here.
"""

from __future__ import annotations

from fte.channels.registry import CHANNELS
from fte.ops.checks import bus, cache, channels, customer_data, database, llm, system, work
from fte.ops.checks.base import Check, Context, Result, Status, run_checks

CHECKS: list[Check] = [
    Check("database", database.check_database, cheap=True, needs_database=False),
    Check("api", system.check_api, needs_database=False),
    Check("migrations", database.check_migrations),
    Check("pgvector", database.check_pgvector),
    Check("queue", bus.check_queue, cheap=True),
    Check("kafka", bus.check_kafka, cheap=True, needs_database=False),
    Check("kafka_topics", bus.check_kafka_topics, needs_database=False),
    Check("cache", cache.check_cache, cheap=True, needs_database=False),
    Check("llm", llm.check_llm, needs_database=False),
    *channels.checks_for(CHANNELS),
    Check("channels", channels.check_disabled, cheap=True),
    Check("embedding_model", system.check_embedding_model, needs_database=False, timeout=180),
    Check("workers", work.check_workers, cheap=True),
    Check("stuck_tickets", work.check_stuck_tickets),
    Check("dead_letters", work.check_dead_letters),
    Check("customer_data", customer_data.check_customer_data, cheap=True),
    Check("disk", system.check_disk, needs_database=False),
]

CHEAP: list[Check] = [c for c in CHECKS if c.cheap]

__all__ = ["CHEAP", "CHECKS", "Check", "Context", "Result", "Status", "run_checks"]
