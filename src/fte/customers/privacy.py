"""A customer's rights over their data: a copy of everything we hold (export), and erasure of
what identifies them (forget).

Forgetting keeps what is anonymous and what the business must keep: the customer row (its id,
now nameless, with `erased_at`), their tickets (status, priority, times, sentiment), messages
(bodies replaced by "[erased]", metadata emptied), orders (amounts and dates), the scored
profile and the audit log. Names, emails, phone numbers, external ids, identities, message
bodies and subjects, drafts, notes and rating comments go. It is idempotent: forgetting again
changes nothing and is not audited twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import asyncpg

from fte.auth import repository as audit_log
from fte.customers import privacy_repository as repo
from fte.customers import profile_repository
from fte.customers.profiles import profile_json
from fte.errors import NotFound

EXPORT_FORMAT: Final = "fte.customer-export/1"


def _plain(value: Any) -> Any:
    """A database value as JSON would hold it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def _customer_id(conn: asyncpg.Connection, key: str) -> uuid.UUID:
    found = await profile_repository.customer_by_key(conn, key)
    if found is None:
        raise NotFound(f"no customer is known by {key!r}", detail=[{"field": "id"}])
    customer_id: uuid.UUID = found["id"]
    return customer_id


async def export(conn: asyncpg.Connection, key: str, actor: str) -> dict[str, Any]:
    """Everything we hold on the customer known by `key` (and those merged into them); who
    took the copy is audited."""
    customer_id = await _customer_id(conn, key)
    ids = await repo.family(conn, customer_id)
    sections = await repo.export_sections(conn, ids)
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": datetime.now(UTC).isoformat(),
        "customer_id": str(customer_id),
        "profile": await profile_json(conn, customer_id),
        **{name: [_plain(dict(r)) for r in rows] for name, rows in sections.items()},
    }
    await audit_log.audit(conn, actor, "customer.export", None, {"customer_id": str(customer_id)})
    return document


@dataclass(frozen=True)
class Forgotten:
    customer_id: uuid.UUID
    changed: dict[str, int]
    kept: dict[str, Any]

    @property
    def erased_now(self) -> bool:
        return any(self.changed.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": str(self.customer_id),
            "erased_now": self.erased_now,
            "changed": self.changed,
            "kept": self.kept,
        }


async def forget(conn: asyncpg.Connection, key: str, actor: str) -> Forgotten:
    """Erase the personal data of the customer known by `key` (in the caller's transaction),
    audited as `actor`; again, a no-op."""
    customer_id = await _customer_id(conn, key)
    ids = await repo.family(conn, customer_id)
    await repo.lock(conn, ids)
    changed = await repo.forget(conn, ids)
    left = await repo.counts(conn, ids)
    kept = {k: _plain(v) for k, v in dict(left).items()}
    result = Forgotten(customer_id, changed, kept)
    if result.erased_now:
        await audit_log.audit(
            conn,
            actor,
            "customer.forget",
            None,
            {"customer_id": str(customer_id), "ids": [str(i) for i in ids], "changed": changed},
        )
    return result
