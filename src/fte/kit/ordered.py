"""Work on items side by side, except those sharing a key, which go one after another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def in_order_per_key(
    items: Iterable[T],
    key: Callable[[T], Hashable],
    handle: Callable[[T], Awaitable[None]],
    limit: int,
) -> None:
    """Run `handle` on every item: items of one key in the given order, different keys
    concurrently, at most `limit` at once. Every item is attempted before the first error
    (if any) is raised."""
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    gate = asyncio.Semaphore(limit)

    async def one_key(group: list[T]) -> None:
        for item in group:
            async with gate:
                await handle(item)

    outcomes = await asyncio.gather(*(one_key(g) for g in groups.values()), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
