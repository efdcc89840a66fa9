"""A provider that refuses our credentials disables its channel (STYLE rule 6): one refusal,
no retries and no dead letters; the replies wait, `/health`, the doctor and the metrics say so,
and the channel comes back when its credentials work again or an operator enables it."""

from __future__ import annotations

import json

import asyncpg
import httpx
from prometheus_client import REGISTRY

from fte.bus import dead_letters
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.ops.checks import CHECKS, Context, Result, Status, run_checks
from fte.worker.queue_worker import DeliveryWorker
from tests.channels.chatwoot.test_chatwoot import TOKEN, chatwoot_settings, queued_reply
from tests.cli.test_dlq import fte
from tests.conftest import serve_app
from tests.fixtures.fake_chatwoot import FakeChatwoot
from tests.fixtures.replies import drain
from tests.fixtures.waiting import eventually

METRICS_TOKEN = "metrics-token"


def disabled_count(channel: str) -> float:
    labels = {"channel": channel}
    return REGISTRY.get_sample_value("fte_channel_disabled_total", labels) or 0.0


async def health_and_metrics(db_url: str, settings: Settings) -> tuple[dict[str, object], str]:
    async with serve_app(db_url, settings) as base, httpx.AsyncClient(base_url=base) as c:
        health = await c.get("/health")
        metrics = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert health.status_code == 200 and metrics.status_code == 200
    return health.json(), metrics.text


async def doctor_channels(settings: Settings, pool: asyncpg.Pool) -> Result:
    """The doctor's `channels` check, as `fte doctor` runs it."""
    checks = [c for c in CHECKS if c.name in ("database", "channels")]
    ctx = Context(settings=settings, pool=pool, adapters=build_registry(settings))
    return (await run_checks(checks, ctx, 5.0))["channels"]


async def statuses(pool: asyncpg.Pool) -> list[tuple[str, str | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT body, delivery_status, delivery_error FROM messages "
            "WHERE direction = 'outbound' ORDER BY created_at"
        )
    return [(r["delivery_status"], r["delivery_error"]) for r in rows]


async def test_a_refused_token_disables_chatwoot_and_replies_wait_for_fte_channel_enable(
    db_url: str, pool: asyncpg.Pool
) -> None:
    async with FakeChatwoot("the-rotated-token") as fake:  # ours is refused: 401
        settings = chatwoot_settings(
            fake.base_url, FTE_CHANNEL_PROBE_SECONDS="3600", FTE_METRICS_TOKEN=METRICS_TOKEN
        )
        worker = DeliveryWorker(pool, settings, build_registry(settings), name="d")
        before = disabled_count("chatwoot")
        await queued_reply(pool, "first")
        await drain(worker)
        await queued_reply(pool, "second")
        await drain(worker)

        # One call, refused; the second reply was not even tried.
        assert [r.status for r in fake.requests] == [401]
        async with pool.acquire() as conn:
            assert await dead_letters.list_open(conn) == []
        (first, second) = await statuses(pool)
        assert first[0] == "queued" and "Chatwoot 401" in str(first[1])
        assert second == ("queued", None)
        assert disabled_count("chatwoot") == before + 1
        health, metrics = await health_and_metrics(db_url, settings)
        assert health["channels"]["chatwoot"] == "disabled"  # type: ignore[index]
        assert "Chatwoot 401" in health["channels_disabled"]["chatwoot"]["reason"]  # type: ignore[index]
        assert 'fte_channel_disabled{channel="chatwoot"} 1.0' in metrics
        doctor = await doctor_channels(settings, pool)
        assert doctor.status == Status.FAIL and "fte channel enable chatwoot" in doctor.fix
        listing = await fte(db_url, "channel", "list", "--json")
        listed = {row["channel"]: row for row in map(json.loads, listing.stdout.splitlines())}
        assert listing.returncode == 0 and "Chatwoot 401" in listed["chatwoot"]["reason"]

        fake.token = TOKEN  # the operator fixes the token, then enables the channel
        enabled = await fte(db_url, "channel", "enable", "chatwoot")
        assert enabled.returncode == 0 and "chatwoot enabled" in enabled.stdout + enabled.stderr, (
            enabled
        )
        await drain(worker)

    assert [p.body["content"] for p in fake.posted] == ["first", "second"]
    assert [s for s, _ in await statuses(pool)] == ["sent", "sent"]
    health, metrics = await health_and_metrics(db_url, settings)
    assert health["channels"]["chatwoot"] == "active"  # type: ignore[index]
    assert "channels_disabled" not in health
    assert 'fte_channel_disabled{channel="chatwoot"}' not in metrics
    assert (await doctor_channels(settings, pool)).status == Status.PASS


async def test_a_disabled_channel_comes_back_by_itself_once_the_credentials_work(
    pool: asyncpg.Pool,
) -> None:
    async with FakeChatwoot("the-rotated-token") as fake:
        # Probe at once: the first waiting reply after the fix is let through.
        settings = chatwoot_settings(fake.base_url, FTE_CHANNEL_PROBE_SECONDS="0.01")
        worker = DeliveryWorker(pool, settings, build_registry(settings), name="d")
        await queued_reply(pool, "first")
        await worker.run_once()
        assert [r.status for r in fake.requests] == [401]
        fake.token = TOKEN
        async with pool.acquire() as conn:  # its wait is over (as after FTE_CHANNEL_PROBE_SECONDS)
            await conn.execute("UPDATE outbox SET available_at = now() WHERE topic = 'deliver'")
        await queued_reply(pool, "second")

        async def both_sent() -> bool:
            # One probe per interval: the replies wait for it, so keep the worker turning.
            await worker.run_once()
            return len(fake.posted) == 2

        await eventually(both_sent, within=10, what="both replies sent")
    assert [p.body["content"] for p in fake.posted] == ["first", "second"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT disabled_at FROM channel_state") is None
