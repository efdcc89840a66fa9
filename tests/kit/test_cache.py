"""The cache on its own: the in-process LRU, and a real Redis shared by two "processes",
going away and coming back."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from fte.kit import cache as kit_cache
from fte.kit.cache import Cache
from tests.fixtures.redis_server import RedisServer, redis_server  # noqa: F401 (fixture)
from tests.fixtures.waiting import eventually


def _ns() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def test_the_memory_cache_keeps_values_until_invalidated() -> None:
    cache, ns = Cache(None), _ns()
    assert await cache.get(ns, "a") is None
    await cache.put(ns, "a", {"v": 1}, ttl=60)
    assert await cache.get(ns, "a") == {"v": 1}
    await kit_cache.invalidate(ns)
    assert await cache.get(ns, "a") is None
    assert cache.stats() | {"entries": None} == {
        "backend": "memory",
        "status": "memory",
        "hits": 1,
        "misses": 2,
        "hit_rate": 0.3333,
        "errors": 0,
        "entries": None,
        "breaker": None,
    }


async def test_the_memory_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache, ns = Cache(None, memory_entries=2), _ns()
    await cache.put(ns, "a", 1, ttl=60)
    await cache.put(ns, "b", 2, ttl=60)
    assert await cache.get(ns, "a") == 1  # a is now the most recently used
    await cache.put(ns, "c", 3, ttl=60)
    assert await cache.get(ns, "b") is None
    assert await cache.get(ns, "a") == 1
    assert await cache.get(ns, "c") == 3


async def test_an_entry_expires_after_its_ttl() -> None:
    cache, ns = Cache(None), _ns()
    await cache.put(ns, "a", 1, ttl=0.05)
    await eventually(lambda: _missing(cache, ns, "a"), within=5, what="the entry expired")


async def _missing(cache: Cache, ns: str, key: str) -> bool:
    return await cache.get(ns, key) is None


async def test_memory_counters_count_per_window() -> None:
    cache = Cache(None)
    bucket = _ns()
    counts = [(await cache.count(bucket, 3600))[0] for _ in range(3)]
    assert counts == [1, 2, 3]
    _, reset = await cache.count(bucket, 3600)
    assert 0 < reset <= 3600


async def test_two_processes_share_values_counters_and_invalidation_through_redis(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    one, two, ns = Cache(redis_server.url), Cache(redis_server.url), _ns()
    try:
        await one.put(ns, "k", {"name": "Ada"}, ttl=60)
        assert await two.get(ns, "k") == {"name": "Ada"}
        assert one.status == two.status == "ok"
        assert (await one.count(ns, 3600))[0] == 1
        assert (await two.count(ns, 3600))[0] == 2
        # Another process (an import run from the CLI) bumps the generation in Redis.
        other = Redis.from_url(redis_server.url)
        await other.incr(f"fte:{ns}:generation")
        await other.aclose()
        assert await two.get(ns, "k") is None
        await two.put(ns, "k", {"name": "Ada L."}, ttl=60)
        assert await one.get(ns, "k") == {"name": "Ada L."}
        await kit_cache.invalidate(ns)
        assert await one.get(ns, "k") is None
    finally:
        await one.close()
        await two.close()


async def test_redis_away_is_a_miss_and_a_local_count_until_it_answers_again(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    cache, ns = Cache(redis_server.url), _ns()
    try:
        await cache.put(ns, "k", 1, ttl=60)
        redis_server.stop()
        for _ in range(kit_cache.FAILURES_TO_OPEN):
            assert await cache.get(ns, "k") is None
        assert cache.status == "degraded"
        assert cache.stats()["errors"] == kit_cache.FAILURES_TO_OPEN
        # Open breaker: no more waiting on Redis, counters count here.
        assert [(await cache.count(ns, 3600))[0] for _ in range(2)] == [1, 2]
        redis_server.start()
        await eventually(cache.ping, within=10, what="the breaker's probe reaches Redis")
        assert cache.status == "ok"
        await cache.put(ns, "k", 2, ttl=60)
        assert await cache.get(ns, "k") == 2
    finally:
        await cache.close()
