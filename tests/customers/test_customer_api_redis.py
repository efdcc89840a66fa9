"""The customer API with Redis as its cache: Redis killed in the middle of a load changes
nothing a client sees (every request 200, from PostgreSQL), /health says the cache is
degraded, and it recovers by itself when Redis is back."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from fte.kit.cache import Cache
from fte.ops.checks.base import Context, Status
from fte.ops.checks.cache import check_cache
from tests.conftest import make_settings, serve_app
from tests.customers.test_customer_api import new_key, seed_profiles
from tests.fixtures.redis_server import RedisServer, redis_server  # noqa: F401 (fixture)
from tests.fixtures.waiting import eventually

WORKERS = 4


async def test_redis_killed_mid_load_every_request_still_succeeds_and_it_recovers(
    db_url: str,
    pool: asyncpg.Pool,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    await seed_profiles(pool, 40)
    headers = {"X-API-Key": await new_key(pool, ["admin"])}
    settings = make_settings(REDIS_URL=redis_server.url, FTE_API_KEY_RATE_LIMIT="1000000")
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load(client: httpx.AsyncClient, worker: int) -> None:
        n = worker
        while not stop.is_set():
            answer = await client.get(f"/api/customers/p{n % 40 + 1}@example.com", headers=headers)
            statuses.append(answer.status_code)
            n += WORKERS

    async def health(client: httpx.AsyncClient) -> dict[str, Any]:
        answer = await client.get("/health")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def stats(client: httpx.AsyncClient) -> dict[str, Any]:
        body: dict[str, Any] = (await client.get("/api/admin/cache/stats", headers=headers)).json()
        return body

    async with (
        serve_app(db_url, settings) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        assert (await health(client))["cache"] == "ok"
        loaders = [asyncio.create_task(load(client, w)) for w in range(WORKERS)]
        try:
            await eventually(
                lambda: _served_from_redis(stats(client), 20), within=30, what="Redis hits"
            )
            redis_server.stop()
            killed_at = len(statuses)
            await eventually(
                lambda: _cache_is(health(client), "degraded"), within=30, what="cache degraded"
            )
            await eventually(
                lambda: len(statuses) > killed_at + 100, within=60, what="load without Redis"
            )
            hits_while_down = (await stats(client))["hits"]
            redis_server.start()
            await eventually(lambda: _cache_is(health(client), "ok"), within=30, what="cache ok")
            await eventually(
                lambda: _served_from_redis(stats(client), hits_while_down + 20),
                within=30,
                what="Redis hits again",
            )
        finally:
            stop.set()
            await asyncio.gather(*loaders)
    assert len(statuses) > 200
    assert set(statuses) == {200}, f"{len(statuses) - statuses.count(200)} requests failed"


async def _served_from_redis(stats: Any, at_least: int) -> bool:
    body = await stats
    return bool(body["backend"] == "redis" and body["hits"] >= at_least)


async def _cache_is(health: Any, state: str) -> bool:
    body = await health
    return bool(body["cache"] == state)


async def test_the_doctor_names_a_redis_that_does_not_answer(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    settings = make_settings(REDIS_URL=redis_server.url)
    up = await check_cache(Context(settings=settings, pool=None, adapters={}))
    assert up.status == Status.PASS
    assert up.data["status"] == "ok"
    redis_server.stop()
    down = await check_cache(Context(settings=settings, pool=None, adapters={}))
    assert down.status == Status.WARN
    assert down.data["status"] == "degraded"
    assert f"127.0.0.1:{redis_server.port}" in down.summary
    assert "REDIS_URL" in down.fix


async def test_the_doctor_never_prints_the_redis_password() -> None:
    settings = make_settings(REDIS_URL="redis://:s3cret-pass@127.0.0.1:1/0")
    cache = Cache(settings.redis_url)
    try:
        down = await check_cache(Context(settings=settings, pool=None, adapters={}, cache=cache))
    finally:
        await cache.close()
    assert down.status == Status.WARN
    assert "s3cret" not in down.summary + down.fix
