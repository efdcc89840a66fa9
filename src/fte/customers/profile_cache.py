"""Profile reads through the cache, and the one call that invalidates them.

`invalidate_profiles()` is what rescoring, an import, a sync or a pushed order calls after its
commit: every cached profile becomes a miss at once (in every API process when Redis is set;
without Redis, in this process, and another process's copies expire within
`FTE_PROFILE_CACHE_SECONDS`).
"""

from __future__ import annotations

from typing import Any, Final

import asyncpg

from fte.config import Settings, get_settings
from fte.customers.profiles import find_profile
from fte.kit import cache as kit_cache
from fte.kit.cache import Cache

NAMESPACE: Final = "profiles"


def cache_key(key: str) -> str:
    """One entry per way of naming a customer: emails are case-insensitive."""
    key = key.strip()
    return key.lower() if "@" in key else key


async def cached_profile(
    pool: asyncpg.Pool, cache: Cache, key: str, ttl: float
) -> dict[str, Any] | None:
    """The profile of the customer known by `key` (id, email, phone or external id), from the
    cache when it holds it, else from PostgreSQL (then cached for `ttl` seconds)."""
    name = cache_key(key)
    profile: dict[str, Any] | None = await cache.get(NAMESPACE, name)
    if profile is not None:
        return profile
    async with pool.acquire() as conn:
        profile = await find_profile(conn, name)
    if profile is not None:
        await cache.put(NAMESPACE, name, profile, ttl)
    return profile


async def invalidate_profiles(settings: Settings | None = None) -> None:
    """Drop every cached profile (call it after the commit that changed them)."""
    settings = settings or get_settings()
    await kit_cache.invalidate(NAMESPACE, settings.redis_url)
