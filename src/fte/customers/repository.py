"""SQL for customers and the identities that find them."""

from __future__ import annotations

import uuid

import asyncpg

from fte.channels.base import Identity

# The identity row and the customer row go in together or not at all: when a concurrent request
# claims the identity first, ON CONFLICT leaves `ident` empty, so no orphan customer is written.
_FIND_OR_CREATE = """
WITH existing AS (
    SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2
), ident AS (
    INSERT INTO customer_identities (customer_id, kind, value)
    SELECT $3::uuid, $1, $2 WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (kind, value) DO NOTHING
    RETURNING customer_id
), cust AS (
    INSERT INTO customers (id, name, email, phone)
    SELECT customer_id, $4, $5, $6 FROM ident
    RETURNING id
)
SELECT customer_id FROM existing UNION ALL SELECT id FROM cust
"""


async def find_or_create(
    conn: asyncpg.Connection, identity: Identity, name: str | None
) -> uuid.UUID:
    """The customer known by this identity, created on first contact."""
    email = identity.value if identity.kind == "email" else None
    phone = identity.value if identity.kind == "phone" else None
    found = await conn.fetchval(
        _FIND_OR_CREATE, identity.kind, identity.value, uuid.uuid4(), name, email, phone
    )
    if found is None:  # lost a race to a concurrent first contact; it has committed by now
        found = await conn.fetchval(
            "SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2",
            identity.kind,
            identity.value,
        )
    assert found is not None
    return found
