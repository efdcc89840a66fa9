"""Who else has a ticket open: each open ticket page beats every few seconds; a beat older than
`TTL_SECONDS` means the page was closed. Kept in the database so every API process sees every
person, whichever process their page talks to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from fte.desk import repository

BEAT_SECONDS: Final = 5
# Three missed beats: a page closed or a laptop asleep.
TTL_SECONDS: Final = 3 * BEAT_SECONDS + 1


@dataclass(frozen=True)
class Present:
    name: str
    replying: bool

    @property
    def sentence(self) -> str:
        """'Bea is viewing' or 'Bea is replying'."""
        return f"{self.name} is {'replying' if self.replying else 'viewing'}"


async def beat(
    conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID, *, replying: bool
) -> list[Present]:
    """Record this person's beat on the ticket; the others there now."""
    await repository.beat(conn, ticket_id, user_id, replying)
    rows = await repository.present(conn, ticket_id, user_id, TTL_SECONDS)
    return [Present(r["name"], r["replying"]) for r in rows]


async def leave(conn: asyncpg.Connection, ticket_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """The page was closed: stop showing this person at once rather than after the TTL."""
    await repository.leave(conn, ticket_id, user_id)
