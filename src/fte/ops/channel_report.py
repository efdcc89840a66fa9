"""`/metrics/channels`: each channel's configuration, breaker and last day of traffic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from fte.delivery import repository as delivery
from fte.kit.json_output import iso
from fte.messaging import ChannelAdapter
from fte.ops import repository


async def channel_report(
    conn: asyncpg.Connection, adapters: dict[str, ChannelAdapter], since: datetime
) -> dict[str, dict[str, Any]]:
    """One entry per registered channel (and any channel that has messages)."""
    activity = await repository.channel_activity(conn, since)
    health = {r["channel"]: r for r in await delivery.breaker_details(conn)}
    report: dict[str, dict[str, Any]] = {}
    for name in sorted(set(adapters) | set(activity)):
        adapter = adapters.get(name)
        act = activity.get(name)
        breaker = health.get(name)
        report[name] = {
            "configured": bool(adapter and adapter.is_configured()),
            "breaker": {
                "state": breaker["breaker"] if breaker else "closed",
                "consecutive_failures": breaker["failures"] if breaker else 0,
                "last_error": breaker["last_error"] if breaker else None,
                "worker": breaker["worker"] if breaker else None,
                "changed_at": iso(breaker["updated_at"]) if breaker else None,
            },
            "messages_in_24h": act["messages_in"] if act else 0,
            "messages_out_24h": act["messages_out"] if act else 0,
            "delivery_failed_24h": act["delivery_failed"] if act else 0,
            "delivery_errors_24h": act["delivery_errors"] if act else 0,
            "last_inbound_at": iso(act["last_inbound_at"]) if act else None,
            "last_outbound_at": iso(act["last_outbound_at"]) if act else None,
        }
    return report
