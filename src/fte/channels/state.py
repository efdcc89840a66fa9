"""A channel whose provider refused our credentials is disabled, not retried (STYLE rule 6):
one refusal is enough to know every other message would be refused too. It stays disabled,
in the database so every worker and `/health` see it, until a delivery goes through again (one
is let through every FTE_CHANNEL_PROBE_SECONDS) or an operator runs `fte channel enable NAME`.
Its replies wait in the queue meanwhile; none becomes a dead letter for it."""

from __future__ import annotations

import logging

import asyncpg

from fte.channels import repository
from fte.kit.metrics import CHANNEL_DISABLED

log = logging.getLogger(__name__)


async def disable(conn: asyncpg.Connection, channel: str, reason: str, by: str) -> bool:
    """Disable the channel (in the caller's transaction), alert once; True when this did."""
    newly = await repository.disable(conn, channel, reason, by)
    if newly:
        CHANNEL_DISABLED.labels(channel).inc()
        log.error(
            "channel %s disabled: the provider refused our credentials (%s); its replies wait. "
            "Fix the credentials; it re-enables when a delivery goes through, or run "
            "`fte channel enable %s`",
            channel,
            reason,
            channel,
        )
    return newly


async def enable(
    conn: asyncpg.Connection, channel: str, by: str, wake_topic: str | None = None
) -> bool:
    """Enable the channel (in the caller's transaction), and make its waiting jobs of
    `wake_topic` due now; True when it was disabled."""
    was = await repository.enable(conn, channel, by)
    if was:
        woken = await repository.wake_jobs(conn, channel, wake_topic) if wake_topic else 0
        log.warning("channel %s enabled (%s); %d waiting replies due now", channel, by, woken)
    return was


disabled = repository.disabled
claim_probe = repository.claim_probe
