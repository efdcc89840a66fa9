"""Customer search: a narrow text sorts the customers it names, a broad one is matched while
walking the sort's index; both give the same customers in the same order."""

from __future__ import annotations

import asyncpg

from fte.customers import browse_repository as search
from fte.kit import keyset
from tests import factories


async def _names(pool: asyncpg.Pool, text: str, sort: search.Sort, most: int) -> list[str]:
    shown: list[str] = []
    after = None
    async with pool.acquire() as conn:
        while True:  # two a page: the cursor carries each path across pages
            rows = await search.search(
                conn, search.CustomerFilter(text=text), sort, after, 3, max_candidates=most
            )
            shown += [r["name"] for r in rows[:2]]
            if len(rows) < 3:
                return shown
            key = rows[1]["sort_key"]
            after = keyset.decode(
                keyset.encode(
                    key.isoformat() if hasattr(key, "isoformat") else str(key), rows[1]["id"]
                )
            )


async def test_a_broad_text_finds_what_a_narrow_one_does(pool: asyncpg.Pool) -> None:
    for i, (name, value, risk) in enumerate(
        (("Ana Alves", 300, 0.9), ("ANA Brito", 5000, 0.1), ("Anabel Cruz", 1200, 0.5),
         ("Bruno Ana", 9000, 0.7), ("Anita Dias", 800, 0.3))
    ):  # fmt: skip
        who = await factories.customer(pool, name, email=f"p{i}@example.com")
        await factories.profile(pool, who, lifetime_value=value, churn_risk=risk)
        await factories.ticket(pool, f"question {i}", email=f"p{i}@example.com")
    by_value = ["ANA Brito", "Anabel Cruz", "Ana Alves"]
    assert await _names(pool, "ana", "value", most=100) == by_value  # narrow: named, sorted
    assert await _names(pool, "ana", "value", most=2) == by_value  # broad: the index walk
    by_risk = ["Ana Alves", "Anabel Cruz", "ANA Brito"]
    assert await _names(pool, "Ana", "risk", most=100) == by_risk
    assert await _names(pool, "Ana", "risk", most=2) == by_risk
    narrow = await _names(pool, "an", "last_contact", most=100)
    assert narrow == await _names(pool, "an", "last_contact", most=2)
    assert sorted(narrow) == sorted([*by_value, "Anita Dias"])
