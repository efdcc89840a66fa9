"""Per-client-IP rate limits on the public entry points (webhooks, the web form).

The same sliding window as the sign-in limit (`rate_limit_hits`, one row per hit), so every
API process shares the count: a client cannot multiply its allowance by the number of
processes. It costs one small statement per request, next to intake's own transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from fastapi import Request

from fte.auth import service
from fte.config import SettingsDep
from fte.db import PoolDep, transaction

WINDOW_SECONDS: Final = 60


def per_client_ip(
    bucket: str, limit_of: Callable[[SettingsDep], int]
) -> Callable[..., Awaitable[None]]:
    """A dependency: 429 with Retry-After past `limit_of(settings)` requests a minute from one
    client IP (0: no limit)."""

    async def check(request: Request, pool: PoolDep, settings: SettingsDep) -> None:
        limit = limit_of(settings)
        if limit <= 0:
            return
        client = request.client.host if request.client else "unknown"
        async with transaction(pool) as conn:
            await service.check_rate(conn, f"{bucket}-ip:{client}", limit, WINDOW_SECONDS)

    return check


webhook_limit = per_client_ip("webhook", lambda s: s.webhook_rate_limit)
form_limit = per_client_ip("form", lambda s: s.form_rate_limit)
# The customer's page: replies and ratings, counted apart from new submissions.
page_limit = per_client_ip("page", lambda s: s.form_rate_limit)
