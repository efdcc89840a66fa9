"""SQL for the console's customers page: search by name, email or external id, filters on the
profile (segment, lifetime value, churn risk), sorted by value, churn risk or last contact
(best first), one keyset page at a time. (`GET /api/customers` has its own, ascending or
descending, in search_repository.py.)

Built for a million customers. Without a search text each sort walks an index in its order
and stops at the page's end: customer_profiles_value_idx, customer_profiles_risk_idx,
tickets_created_idx (newest tickets first, each customer at their latest one). A search text
first looks up the customers it names through indexes (name or email prefix, exact email or
phone identity, exact external id), at most MAX_CANDIDATES, and sorts those few; a text
naming more is matched on the walk instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

import asyncpg

Sort = Literal["value", "risk", "last_contact"]
SORTS: Final[tuple[Sort, ...]] = ("value", "risk", "last_contact")


@dataclass(frozen=True)
class CustomerFilter:
    """What the list is narrowed to; None: no condition."""

    text: str | None = None
    segment: str | None = None
    min_value: float | None = None
    min_risk: float | None = None


# A page's rows, whichever way they were found: the customer, their profile (NULLs when it
# has none) and their latest ticket.
_COLUMNS = """
    c.id, c.name, c.email, c.external_id, c.plan, p.orders, p.lifetime_value, p.currency,
    p.churn_risk, p.segment, p.value_percentile, p.last_order_at
"""

_LATEST_TICKET = """
    LEFT JOIN LATERAL (
        SELECT l.created_at AS last_contact_at FROM tickets l
         WHERE l.customer_id = c.id ORDER BY l.created_at DESC LIMIT 1
    ) AS latest ON true
"""

# The customers a search text names, at most $4 of them: each arm an index lookup, UNION ALL
# so that the LIMIT stops the scans (a UNION would read every match to remove duplicates). A
# prefix is the range [$1, $3) in byte order (text_pattern_ops), which an index serves with
# the text as a parameter, where LIKE $1 || '%' needs the text written into the statement.
_CANDIDATES = """
    SELECT id FROM customers WHERE lower(name) ~>=~ $1 AND lower(name) ~<~ $3
    UNION ALL SELECT id FROM customers WHERE lower(email) ~>=~ $1 AND lower(email) ~<~ $3
    UNION ALL SELECT id FROM customers WHERE external_id = $2
    UNION ALL SELECT customer_id FROM customer_identities
               WHERE (kind = 'email' AND value = lower($2)) OR (kind = 'phone' AND value = $2)
    LIMIT $4
"""
# More customers than this named by a text (a prefix like "jo"): the page walks the sort's
# index and keeps the rows the prefix matches, which are dense enough to fill a page soon.
MAX_CANDIDATES: Final = 2000

_NAMED = "c.id = ANY($10::uuid[])"
# Every parameter typed, in each shape (PostgreSQL must know them all to prepare it).
_TYPED = "($1::text, $9::text, $2::text, $10::uuid[]) IS NOT NULL OR true"
# A broad text on the walk: its prefix on the name or the email.
_PREFIX = """
    ($1::text IS NULL OR (lower(c.name) ~>=~ $1 AND lower(c.name) ~<~ $9)
                      OR (lower(c.email) ~>=~ $1 AND lower(c.email) ~<~ $9))
"""

# $3 segment, $4 minimum value, $5 minimum risk: a NULL filter holds for everyone.
_FILTERS = """
    ($3::text IS NULL OR p.segment = $3)
    AND ($4::numeric IS NULL OR p.lifetime_value >= $4)
    AND ($5::real IS NULL OR p.churn_risk >= $5)
    AND c.merged_into IS NULL
"""

_KEY_TYPES: Final = {"value": "numeric", "risk": "real", "last_contact": "timestamptz"}


def _prefix_range(text: str) -> tuple[str, str]:
    """[low, high): the strings that start with the text, lower-cased."""
    low = text.lower()
    return low, low[:-1] + chr(ord(low[-1]) + 1)


def _profile_page(sort: Sort, named: bool) -> str:
    """Sorted by a profile column: its index in order, or the named customers sorted."""
    column = "p.lifetime_value" if sort == "value" else "p.churn_risk"
    cast = _KEY_TYPES[sort]
    if named:
        key = f"COALESCE({column}, -1)"
        tables = "customers c LEFT JOIN customer_profiles p ON p.customer_id = c.id"
        narrowed = _NAMED
    else:
        key = column
        tables = "customer_profiles p JOIN customers c ON c.id = p.customer_id"
        narrowed = f"{column} IS NOT NULL AND {_PREFIX}"
    return f"""
        SELECT {_COLUMNS}, latest.last_contact_at, {key} AS sort_key
          FROM {tables}
          {_LATEST_TICKET}
         WHERE {narrowed} AND {_FILTERS} AND ({_TYPED})
           AND ($6::text IS NULL OR {key} < $6::{cast} OR ({key} = $6::{cast} AND c.id < $7))
         ORDER BY {key} DESC, c.id DESC
         LIMIT $8
    """


def _contact_page(named: bool) -> str:
    """Sorted by last contact: the named customers sorted, or the newest tickets walked
    backwards, each customer taken at their latest ticket."""
    if named:
        key = "COALESCE(latest.last_contact_at, '-infinity')"
        return f"""
            SELECT {_COLUMNS}, latest.last_contact_at, {key} AS sort_key
              FROM customers c LEFT JOIN customer_profiles p ON p.customer_id = c.id
              {_LATEST_TICKET}
             WHERE {_NAMED} AND {_FILTERS} AND ({_TYPED})
               AND ($6::text IS NULL OR {key} < $6::timestamptz
                    OR ({key} = $6::timestamptz AND c.id < $7))
             ORDER BY {key} DESC, c.id DESC
             LIMIT $8
        """
    return f"""
        SELECT {_COLUMNS}, t.created_at AS last_contact_at, t.created_at AS sort_key
          FROM tickets t
          JOIN customers c ON c.id = t.customer_id
          LEFT JOIN customer_profiles p ON p.customer_id = c.id
         WHERE NOT EXISTS (SELECT 1 FROM tickets n WHERE n.customer_id = t.customer_id
                             AND (n.created_at > t.created_at
                                  OR (n.created_at = t.created_at AND n.id > t.id)))
           AND {_PREFIX} AND {_FILTERS} AND ({_TYPED})
           AND ($6::text IS NULL OR t.created_at < $6::timestamptz
                OR (t.created_at = $6::timestamptz AND c.id < $7))
         ORDER BY t.created_at DESC, c.id DESC
         LIMIT $8
    """


def _source(sort: Sort, named: bool) -> str:
    return _contact_page(named) if sort == "last_contact" else _profile_page(sort, named)


async def _named(conn: asyncpg.Connection, text: str, most: int) -> list[uuid.UUID] | None:
    """The customers the text names; None when it names more than `most`."""
    low, high = _prefix_range(text)
    rows = await conn.fetch(_CANDIDATES, low, text, high, most + 1)
    if len(rows) > most:
        return None
    return list(dict.fromkeys(r["id"] for r in rows))


async def search(
    conn: asyncpg.Connection,
    where: CustomerFilter,
    sort: Sort,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
    max_candidates: int = MAX_CANDIDATES,
) -> list[asyncpg.Record]:
    """One page of customers, best first by `sort`, after the row `after` ((sort key, id)
    of the last row of the previous page); each row has `sort_key` for the next cursor.

    A text naming up to `max_candidates` customers sorts those (those without a profile or a
    ticket last); a broader one walks the sort's index like no text, keeping the customers
    whose name or email starts with it (customers without a profile, or for last contact
    without a ticket, are then left out, as with no text)."""
    text = where.text.strip() if where.text and where.text.strip() else None
    named = await _named(conn, text, max_candidates) if text else None
    low, high = _prefix_range(text) if text and named is None else (None, None)
    rows: list[asyncpg.Record] = await conn.fetch(
        _source(sort, named is not None),
        low,
        text,
        where.segment,
        where.min_value,
        where.min_risk,
        None if after is None else str(after[0]),
        None if after is None else after[1],
        limit,
        high,
        named,
    )
    return rows
