"""Is work flowing: workers alive, messages the agent never got to, dead letters in the last
hour."""

from __future__ import annotations

from fte.bus import dead_letters, stuck_messages
from fte.ops import heartbeats
from fte.ops.checks.base import Context, Result, fail, passed, warn

# FteDeadLetters fires above this many in an hour.
DEAD_LETTERS_PER_HOUR = 5


async def check_stuck_tickets(ctx: Context) -> Result:
    """Open tickets whose customer message has no agent run after FTE_STUCK_AFTER_MINUTES."""
    assert ctx.pool is not None
    minutes = ctx.settings.stuck_after_minutes
    async with ctx.pool.acquire(timeout=5) as conn:
        found = await stuck_messages.stuck(conn, minutes * 60, 20)
    if not found:
        return passed(f"none older than {minutes:g} min", count=0)
    tickets = ", ".join(f"#{s.ticket_number}" for s in found[:5])
    return fail(
        f"{len(found)}{'+' if len(found) == 20 else ''} message(s) without an agent run after "
        f"{minutes:g} min (tickets {tickets}; oldest {found[0].age_seconds / 60:.0f} min)",
        "are workers running? The worker re-drives them itself (FTE_STUCK_MAX_REDRIVES); "
        "see runbook: Queue backing up",
        count=len(found),
        tickets=[s.ticket_number for s in found],
    )


async def check_dead_letters(ctx: Context) -> Result:
    """Dead letters created in the last hour, not replayed."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=5) as conn:
        count = await dead_letters.count_since(conn, 3600)
    if count == 0:
        return passed("none in the last hour", count=0)
    fix = (
        "`fte dlq list`, fix the cause the error names, `fte dlq replay ID` (runbook: Dead letters)"
    )
    if count > DEAD_LETTERS_PER_HOUR:
        summary = f"{count} in the last hour (alert above {DEAD_LETTERS_PER_HOUR})"
        return fail(summary, fix, count=count)
    return warn(f"{count} in the last hour", fix, count=count)


async def check_workers(ctx: Context) -> Result:
    """Workers whose heartbeat is recent; none alive is a FAIL while work waits for one."""
    assert ctx.pool is not None
    every = ctx.settings.worker_heartbeat_seconds
    async with ctx.pool.acquire(timeout=5) as conn:
        seen = await heartbeats.summary(conn, every)
    alive, waiting = seen["alive"], seen["waiting"]
    if alive:
        return passed(f"{alive} alive", **seen)
    last = seen["last_beat_seconds"]
    since = f"last beat {last:.0f} s ago" if last is not None else "none has ever beaten"
    fix = (
        "start a worker (`fte worker`; under `fte up` it restarts by itself) and read the "
        "dead one's log (runbook: Workers down)"
    )
    if waiting:
        more = "+" if waiting >= heartbeats.WAITING_COUNT_CAP else ""
        return fail(f"no worker alive ({since}) and {waiting}{more} job(s) waiting", fix, **seen)
    return warn(f"no worker alive ({since}); nothing waiting yet", fix, **seen)
