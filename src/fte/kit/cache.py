"""A cache in front of reads PostgreSQL can always answer again, and fixed-window counters.

With `REDIS_URL` every API process shares one Redis; without it each process keeps a bounded
in-process LRU. Redis is an accelerator, never a dependency: short socket timeouts and a circuit
breaker keep a dead Redis from slowing a request, a read then misses (the caller goes to
PostgreSQL) and a counter counts in the process, and the breaker's probe brings Redis back by
itself once it answers again.

Invalidation is by generation: each namespace has a number that `invalidate(namespace)` bumps,
and an entry stored under an older number is a miss. One INCR drops every profile at once,
without scanning keys.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections import OrderedDict
from typing import Any, Final, Literal

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from fte.kit.circuit_breaker import CircuitBreaker, CircuitOpenError

log = logging.getLogger(__name__)

Backend = Literal["redis", "memory"]
Status = Literal["ok", "memory", "degraded"]

# A cached read must cost less than the query it saves: past this Redis counts as down.
SOCKET_TIMEOUT: Final = 0.25
# Consecutive failures that open the breaker, and seconds before it lets one probe through.
FAILURES_TO_OPEN: Final = 3
PROBE_AFTER: Final = 1.0
PREFIX: Final = "fte:"

# This process's generation per namespace: the in-process cache's invalidation.
_local_generations: dict[str, int] = {}
# Live caches of this process, so `invalidate` reaches their Redis too.
_live: weakref.WeakSet[Cache] = weakref.WeakSet()

_REDIS_DOWN = (RedisError, OSError, TimeoutError, CircuitOpenError)


def _client(url: str) -> Redis:
    # No retries inside redis-py: the breaker decides when to try again.
    return Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class Cache:
    """Profile reads and rate-limit counters for one process; see the module docstring."""

    def __init__(self, redis_url: str | None, memory_entries: int = 10_000):
        self.redis_url = redis_url
        self.memory_entries = memory_entries
        self._redis: Redis | None = _client(redis_url) if redis_url else None
        self.breaker = CircuitBreaker(FAILURES_TO_OPEN, PROBE_AFTER, name="redis")
        self._entries: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()
        self._windows: dict[str, tuple[int, int]] = {}
        self.hits = 0
        self.misses = 0
        self.errors = 0
        # The generation Redis last reported per namespace: the next put is stored under it.
        self._generation_seen: dict[str, int] = {}
        _live.add(self)

    @property
    def backend(self) -> Backend:
        return "redis" if self._redis is not None else "memory"

    @property
    def status(self) -> Status:
        """`memory` without Redis, `degraded` while Redis fails (reads go to PostgreSQL)."""
        if self._redis is None:
            return "memory"
        return "ok" if self.breaker.state == "closed" else "degraded"

    # ---- cached values -------------------------------------------------------------------------

    async def get(self, namespace: str, key: str) -> Any | None:
        """The value stored under `key` in the namespace's current generation; None: a miss."""
        if self._redis is not None:
            value = await self._redis_get(namespace, key)
        else:
            value = self._memory_get(namespace, key)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    async def put(self, namespace: str, key: str, value: Any, ttl: float) -> None:
        """Store a JSON-ready value for `ttl` seconds (dropped silently when Redis is away)."""
        if ttl <= 0:
            return
        if self._redis is None:
            self._memory_put(namespace, key, value, ttl)
            return
        try:
            async with self.breaker.guard():
                await self._redis.set(
                    f"{PREFIX}{namespace}:{key}",
                    json.dumps({"g": self._generation_seen.get(namespace, 0), "v": value}),
                    px=max(1, int(ttl * 1000)),
                )
        except _REDIS_DOWN as exc:
            self._failed("put", exc)

    async def _redis_get(self, namespace: str, key: str) -> Any | None:
        assert self._redis is not None
        try:
            async with self.breaker.guard():
                raw, generation = await self._redis.mget(
                    f"{PREFIX}{namespace}:{key}", f"{PREFIX}{namespace}:generation"
                )
        except _REDIS_DOWN as exc:
            self._failed("get", exc)
            return None
        current = int(generation or 0)
        self._generation_seen[namespace] = current
        if raw is None:
            return None
        entry = json.loads(raw)
        return entry["v"] if entry.get("g") == current else None

    def _memory_get(self, namespace: str, key: str) -> Any | None:
        full = f"{namespace}:{key}"
        entry = self._entries.get(full)
        if entry is None:
            return None
        expires, generation, value = entry
        if expires < time.monotonic() or generation != _local_generations.get(namespace, 0):
            del self._entries[full]
            return None
        self._entries.move_to_end(full)
        return value

    def _memory_put(self, namespace: str, key: str, value: Any, ttl: float) -> None:
        full = f"{namespace}:{key}"
        generation = _local_generations.get(namespace, 0)
        self._entries[full] = (time.monotonic() + ttl, generation, value)
        self._entries.move_to_end(full)
        while len(self._entries) > self.memory_entries:
            self._entries.popitem(last=False)

    # ---- counters ------------------------------------------------------------------------------

    async def count(self, bucket: str, window_seconds: int) -> tuple[int, float]:
        """Count one hit in the bucket's current fixed window: (hits in it including this one,
        seconds until it ends). In Redis when it answers, else in this process."""
        now = time.time()
        start = int(now // window_seconds) * window_seconds
        reset = start + window_seconds - now
        key = f"{bucket}:{start}"
        if self._redis is not None:
            try:
                async with self.breaker.guard():
                    pipe = self._redis.pipeline(transaction=False)
                    pipe.incr(f"{PREFIX}rate:{key}")
                    pipe.expire(f"{PREFIX}rate:{key}", window_seconds + 1)
                    hits, _ = await pipe.execute()
                return int(hits), reset
            except _REDIS_DOWN as exc:
                self._failed("count", exc)
        return self._memory_count(key, start, window_seconds), reset

    def _memory_count(self, key: str, start: int, window_seconds: int) -> int:
        if len(self._windows) > self.memory_entries:
            self._windows = {
                k: v for k, v in self._windows.items() if v[0] + window_seconds > time.time()
            }
        _, hits = self._windows.get(key, (start, 0))
        self._windows[key] = (start, hits + 1)
        return hits + 1

    # ---- operations ----------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when Redis answers (through the breaker: a success closes it); True without
        Redis."""
        if self._redis is None:
            return True
        try:
            async with self.breaker.guard():
                await self._redis.ping()
            return True
        except _REDIS_DOWN as exc:
            self._failed("ping", exc)
            return False

    async def bump(self, namespace: str) -> None:
        """Invalidate the namespace in this cache's Redis (the local generation is the
        caller's, `invalidate`)."""
        if self._redis is None:
            return
        try:
            async with self.breaker.guard():
                await self._redis.incr(f"{PREFIX}{namespace}:generation")
        except _REDIS_DOWN as exc:
            self._failed("invalidate", exc)

    def stats(self) -> dict[str, Any]:
        """Hits, misses and hit rate since the process started, for the admin API."""
        looked = self.hits + self.misses
        return {
            "backend": self.backend,
            "status": self.status,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / looked, 4) if looked else None,
            "errors": self.errors,
            "entries": len(self._entries) if self._redis is None else None,
            "breaker": self.breaker.snapshot() if self._redis is not None else None,
        }

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    def _failed(self, what: str, exc: BaseException) -> None:
        if not isinstance(exc, CircuitOpenError):
            self.errors += 1
            log.warning("cache: Redis %s failed (%s); serving without it", what, type(exc).__name__)


async def invalidate(namespace: str, redis_url: str | None = None) -> None:
    """Drop every cached entry of the namespace: in this process, in the Redis of this
    process's caches, and in `redis_url` (a command run outside the API, e.g. an import)."""
    _local_generations[namespace] = _local_generations.get(namespace, 0) + 1
    reached: set[str] = set()
    for cache in list(_live):
        if cache.redis_url and cache.redis_url not in reached:
            reached.add(cache.redis_url)
            await cache.bump(namespace)
    if redis_url and redis_url not in reached:
        client = _client(redis_url)
        try:
            await client.incr(f"{PREFIX}{namespace}:generation")
        except _REDIS_DOWN as exc:
            log.warning("cache: could not invalidate %s in Redis (%s)", namespace, exc)
        finally:
            await client.aclose()
