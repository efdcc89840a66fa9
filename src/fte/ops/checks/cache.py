"""The cache: Redis answering (`ok`), away (`degraded`: reads go to PostgreSQL), or none
configured (`memory`: an in-process cache per API process)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fte.kit.cache import Cache
from fte.ops.checks.base import Context, Result, passed, warn


def _where(url: str) -> str:
    """host:port/db of a Redis URL, never its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"


async def check_cache(ctx: Context) -> Result:
    """Ping Redis through this process's cache (its breaker's probe: a success closes it);
    `data["status"]` is /health's `cache`."""
    url = ctx.settings.redis_url
    if not url:
        return passed(
            "in-process cache (REDIS_URL unset): each API process caches and counts alone",
            status="memory",
            backend="memory",
        )
    cache = ctx.cache
    own = cache is None
    if cache is None:
        cache = Cache(url, 1)
    try:
        answered = await cache.ping()
    finally:
        if own:
            await cache.close()
    if answered:
        return passed(f"Redis at {_where(url)} answers", status="ok", backend="redis")
    return warn(
        f"Redis at {_where(url)} does not answer: degraded, profile reads go to PostgreSQL "
        "(slower) and rate limits count per API process",
        "start Redis or correct REDIS_URL; the API uses it again by itself once it answers",
        status="degraded",
        backend="redis",
    )
