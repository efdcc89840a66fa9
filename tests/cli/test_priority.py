"""`fte priority rules|add|remove`: the rules read in plain words, and changed without a
redeploy: the next ticket filed follows the new rule."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg

from fte.intake.service import file_inbound
from fte.messaging import Identity, InboundMessage
from tests import factories


async def fte(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command's result, with what it printed (rich prints to stderr) as `stdout`."""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "fte", *args],
        env={**os.environ, "DATABASE_URL": url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout + done.stderr, "")


async def test_an_admin_reads_and_changes_the_rules(pool: asyncpg.Pool, db_url: str) -> None:
    shown = await fte(db_url, "priority", "rules")
    assert shown.returncode == 0, shown.stderr
    assert "top 5% by value" in shown.stdout and "value percentile ≥ 0.95" in shown.stdout
    assert "high churn risk and negative sentiment" in shown.stdout
    assert "churn risk ≥ 0.7 and sentiment is negative" in shown.stdout

    bad = await fte(db_url, "priority", "add", "--priority", "high", "--reason", "x")
    assert bad.returncode == 2 and "at least one condition" in bad.stdout, bad.stdout
    worse = await fte(
        db_url, "priority", "add", "--priority", "high", "--reason", "x", "--churn-risk-min", "7"
    )
    assert worse.returncode == 2 and "churn_risk_min" in worse.stdout, worse.stdout

    added = await fte(
        db_url, "priority", "add", "--priority", "urgent", "--reason", "enterprise plan",
        "--plan", "enterprise",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert "urgent: enterprise plan — when plan is enterprise" in added.stdout

    big = await factories.customer(pool, "Bo", email="bo@example.com")
    await factories.profile(pool, big, plan="enterprise")
    filed = await file_inbound(
        pool,
        InboundMessage(channel="web_form", identity=Identity("email", "bo@example.com"), body="Hi"),
    )
    async with pool.acquire() as conn:
        reason = await conn.fetchval(
            "SELECT priority_reason FROM tickets WHERE id = $1", filed.ticket_id
        )
        rule_id = await conn.fetchval(
            "SELECT id FROM priority_rules WHERE reason = 'enterprise plan'"
        )
    assert reason == "urgent: enterprise plan"

    removed = await fte(db_url, "priority", "remove", str(rule_id))
    assert (
        removed.returncode == 0
        and "enterprise plan" not in (await fte(db_url, "priority", "rules")).stdout
    )
    missing = await fte(db_url, "priority", "remove", str(rule_id))
    assert missing.returncode == 1 and f"no priority rule {rule_id}" in missing.stdout
