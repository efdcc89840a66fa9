"""SQL for customers and the identities that find them."""

from __future__ import annotations

import uuid

import asyncpg

from fte.messaging import Identity


async def identity_owner(conn: asyncpg.Connection, identity: Identity) -> uuid.UUID | None:
    """The customer this identity belongs to, if any."""
    owner: uuid.UUID | None = await conn.fetchval(
        "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2",
        identity.kind,
        identity.value,
    )
    return owner


async def add_identity(
    conn: asyncpg.Connection, customer_id: uuid.UUID, identity: Identity
) -> bool:
    """Give the customer this identity; False when someone owns it already (a race lost). The
    customer's email or phone column is filled when it was empty."""
    added = await conn.fetchval(
        """
        INSERT INTO customer_identities (customer_id, kind, value) VALUES ($1, $2, $3)
        ON CONFLICT (kind, value) DO NOTHING RETURNING id
        """,
        customer_id,
        identity.kind,
        identity.value,
    )
    if added is None:
        return False
    column = {"email": "email", "phone": "phone"}.get(identity.kind)
    if column:
        await conn.execute(
            f"UPDATE customers SET {column} = COALESCE({column}, $2), updated_at = now() "
            "WHERE id = $1",
            customer_id,
            identity.value,
        )
    return True


async def suggest_link(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    owner_id: uuid.UUID | None,
    identity: Identity,
    message_id: uuid.UUID,
) -> bool:
    """Record that this customer claimed an identity (owned by `owner_id`, or by nobody yet);
    False when the same suggestion exists already."""
    # No conflict target: the owner-less claims have their own partial unique index.
    added = await conn.fetchval(
        """
        INSERT INTO customer_link_suggestions (customer_id, owner_id, kind, value, message_id)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT DO NOTHING RETURNING id
        """,
        customer_id,
        owner_id,
        identity.kind,
        identity.value,
        message_id,
    )
    return added is not None


async def open_suggestions(
    conn: asyncpg.Connection, customer_id: uuid.UUID | None = None, limit: int = 100
) -> list[asyncpg.Record]:
    """Suggestions an operator has not confirmed, newest first (of one customer, either side).
    The owner is whoever owns the identity now (a claim made before its owner wrote in has
    one by the time an operator looks); None while nobody does."""
    return await conn.fetch(
        """
        WITH s AS (
            SELECT s.id, s.customer_id, s.kind, s.value, s.message_id, s.created_at, s.status,
                   COALESCE(s.owner_id, i.customer_id) AS owner_id
            FROM customer_link_suggestions s
            LEFT JOIN customer_identities i ON i.kind = s.kind AND i.value = s.value
        )
        SELECT s.id, s.customer_id, s.owner_id, s.kind, s.value, s.message_id, s.created_at,
               c.name AS customer_name, o.name AS owner_name
        FROM s
        JOIN customers c ON c.id = s.customer_id
        LEFT JOIN customers o ON o.id = s.owner_id
        WHERE s.status = 'open' AND c.merged_into IS NULL AND o.merged_into IS NULL
          AND s.owner_id IS DISTINCT FROM s.customer_id
          AND ($1::uuid IS NULL OR $1 IN (s.customer_id, s.owner_id))
        ORDER BY s.created_at DESC, s.id DESC LIMIT $2
        """,
        customer_id,
        limit,
    )


async def lock_customers(
    conn: asyncpg.Connection, ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    """The customers with these ids, locked until the transaction ends (in id order, so two
    merges of the same pair cannot deadlock)."""
    rows = await conn.fetch(
        "SELECT id, name, email, phone, merged_into FROM customers WHERE id = ANY($1::uuid[]) "
        "ORDER BY id FOR UPDATE",
        ids,
    )
    return {r["id"]: r for r in rows}


async def move_everything(
    conn: asyncpg.Connection, keep_id: uuid.UUID, other_id: uuid.UUID
) -> dict[str, int]:
    """Move the other customer's tickets, conversations and identities to the kept one, fill
    what the kept one lacks, mark the other merged; how many rows of each moved."""
    moved = {}
    for table in ("tickets", "conversations", "customer_identities"):
        status = await conn.execute(
            f"UPDATE {table} SET customer_id = $1 WHERE customer_id = $2", keep_id, other_id
        )
        moved[table] = int(status.split()[-1])
    await conn.execute(
        """
        UPDATE customers k SET name = COALESCE(k.name, o.name), email = COALESCE(k.email, o.email),
               phone = COALESCE(k.phone, o.phone), updated_at = now()
        FROM customers o WHERE k.id = $1 AND o.id = $2
        """,
        keep_id,
        other_id,
    )
    await conn.execute(
        "UPDATE customers SET merged_into = $1, updated_at = now() WHERE id = $2",
        keep_id,
        other_id,
    )
    await conn.execute(
        """
        UPDATE customer_link_suggestions s SET status = 'merged', resolved_at = now()
        WHERE status = 'open' AND ((customer_id = $1 AND owner_id = $2)
                                   OR (customer_id = $2 AND owner_id = $1)
                                   OR (owner_id IS NULL AND customer_id IN ($1, $2)
                                       AND EXISTS (SELECT 1 FROM customer_identities i
                                                   WHERE i.kind = s.kind AND i.value = s.value
                                                     AND i.customer_id = $1)))
        """,
        keep_id,
        other_id,
    )
    return moved
