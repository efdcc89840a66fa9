"""Is the customer data fresh: the sales sync's last run and last success, and how many
customers and orders are held (what `/health` reports as `customers`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fte.customers import order_repository, sync_repository
from fte.ops.checks.base import Context, Result, passed, warn

STALE_AFTER_HOURS = 24
FIX = (
    "`fte customers sync` runs one now and prints why it fails; check FTE_SALES_DATABASE_URL, "
    "FTE_SALES_QUERY and that a worker is running (runbook: Customer data sync failing)"
)


async def check_customer_data(ctx: Context) -> Result:
    """WARN when a sales database is configured and its last successful sync is older than
    24 h (or never happened), or its last run failed; PASS with the counts otherwise."""
    assert ctx.pool is not None
    async with ctx.pool.acquire(timeout=5) as conn:
        counts = await order_repository.data_counts(conn)
        runs = await sync_repository.freshness(conn)
    last: datetime | None = runs["last_success_at"]
    data: dict[str, Any] = {"last_sync_at": last.isoformat() if last else None, **counts}
    held = f"{counts['customers_loaded']} customer profile(s), {counts['orders']} order(s)"
    if not ctx.settings.sales_sync_configured:
        return passed(f"{held}; no sales sync configured", **data)
    if runs["status"] == "failed":
        return warn(f"the last sales sync (run {runs['id']}) failed: {runs['error']}", FIX, **data)
    if last is None:
        return warn(f"no sales sync has succeeded yet; {held}", FIX, **data)
    hours = (datetime.now(UTC) - last).total_seconds() / 3600
    if hours > STALE_AFTER_HOURS:
        return warn(
            f"the last successful sales sync ended {hours:.0f} h ago (over "
            f"{STALE_AFTER_HOURS} h); {held}",
            FIX,
            **data,
        )
    return passed(f"synced {hours * 60:.0f} min ago; {held}", **data)
