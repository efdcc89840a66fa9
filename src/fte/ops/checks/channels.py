"""Each channel: its settings, then what its adapter can ask of the provider without sending
anything (`ChannelAdapter.check`). A channel with none of its settings is SKIP (not used here).
One check per registered channel that has settings, named `channel_<name>`."""

from __future__ import annotations

from fte.channels import state as channel_state
from fte.messaging import AdapterBase
from fte.ops.checks.base import Check, CheckFn, Context, Result, Status, fail, passed, skip


def channel_check(name: str) -> CheckFn:
    """The doctor's check of channel `name`, through its adapter."""

    async def check(ctx: Context) -> Result:
        adapter = ctx.adapters.get(name)
        if adapter is None:
            return skip("not registered")
        unset = adapter.unset_settings()
        if all(env in unset for env in adapter.required_settings.values()):
            return skip("not configured")
        if unset:
            return fail(f"incomplete: {', '.join(unset)} unset", f"set {', '.join(unset)}")
        verdict = await adapter.check(ctx.pool)
        if verdict is None:
            return passed(f"{', '.join(adapter.required_settings.values())} set")
        return Result(Status(verdict.status), verdict.summary, verdict.fix, dict(verdict.data))

    check.__doc__ = f"The {name} channel: settings, then its provider."
    return check


def checks_for(channels: list[type[AdapterBase]]) -> list[Check]:
    """A check per channel that needs settings (the web form needs none: nothing to check)."""
    return [
        Check(
            f"channel_{kind.name}",
            channel_check(kind.name),
            cheap=kind.check_cheap,
            needs_database=kind.check_needs_database,
        )
        for kind in channels
        if kind.required_settings
    ]


async def check_disabled(ctx: Context) -> Result:
    """No channel disabled because its provider refused our credentials (its replies wait)."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=1.5) as conn:
        rows = await channel_state.disabled(conn)
    disabled = {
        name: {"since": row["disabled_at"].isoformat(), "reason": row["reason"]}
        for name, row in rows.items()
    }
    if not disabled:
        return passed("no channel disabled", disabled={})
    names = ", ".join(disabled)
    first = next(iter(disabled))
    return fail(
        f"disabled, the provider refused our credentials: {names} "
        f"({disabled[first]['reason']}); their replies wait",
        f"fix the channel's credentials (runbook: Channel disabled); it re-enables when a reply "
        f"goes through (one is tried every FTE_CHANNEL_PROBE_SECONDS), or run "
        f"`fte channel enable {first}`",
        disabled=disabled,
    )
