"""SQL for finding customers by their profile: filters, a sort and keyset pages.

A page is "the next `limit` rows after (sort value, customer id)": each sort has an index that
ends with the customer id (migration 0016), so page 1,000 costs what page 1 does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

# Sort name -> (SQL expression, the type its cursor value is cast back to). A name with a
# leading '-' is the same sort, descending.
SORT_KEYS: Final[dict[str, tuple[str, str]]] = {
    "value": ("p.lifetime_value", "numeric"),
    "risk": ("coalesce(p.churn_risk, -1)", "real"),
    "last_contact": (
        "coalesce((SELECT max(t.created_at) FROM tickets t WHERE t.customer_id = c.id), "
        "'epoch'::timestamptz)",
        "timestamptz",
    ),
}


@dataclass(frozen=True)
class Search:
    """What `GET /api/customers` asks for (already validated)."""

    q: str | None = None
    ltv_min: float | None = None
    churn_risk_min: float | None = None
    segment: str | None = None
    sort: str = "-value"
    limit: int = 50
    # The last row of the previous page: (its sort value as text, its customer id).
    after: tuple[str, uuid.UUID] | None = None


def _next_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (byte-wise: UTF-8
    keeps code point order)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be encoded
        last = 0xE000
    return prefix[:-1] + chr(min(last, 0x10FFFF))


async def search(conn: asyncpg.Connection, query: Search) -> list[asyncpg.Record]:
    """Up to `limit` + 1 customers with a profile matching the filters, in sort order after
    the cursor (the extra row says whether there is a next page); `sort_value` is the key."""
    descending = query.sort.startswith("-")
    expression, cast = SORT_KEYS[query.sort.lstrip("-")]
    where = ["c.merged_into IS NULL"]
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.q:
        low, high = query.q.lower(), _next_prefix(query.q.lower())
        exact_low, exact_high = query.q, _next_prefix(query.q)
        # Range conditions, not LIKE: a prepared statement's generic plan can still use the
        # text_pattern_ops indexes with them.
        lo, hi = arg(low), arg(high)
        where.append(
            f"((lower(c.name) ~>=~ {lo} AND lower(c.name) ~<~ {hi})"
            f" OR (lower(c.email) ~>=~ {lo} AND lower(c.email) ~<~ {hi})"
            f" OR (c.external_id ~>=~ {arg(exact_low)} AND c.external_id ~<~ {arg(exact_high)}))"
        )
    if query.ltv_min is not None:
        where.append(f"p.lifetime_value >= {arg(query.ltv_min)}")
    if query.churn_risk_min is not None:
        where.append(f"p.churn_risk >= {arg(query.churn_risk_min)}")
    if query.segment is not None:
        where.append(f"p.segment = {arg(query.segment)}")
    if query.after is not None:
        value, after_id = query.after
        op = "<" if descending else ">"
        # As text, cast in SQL: the same parameter is a number, a real or a timestamp.
        last = f"{arg(value)}::text::{cast}"
        where.append(f"({expression}, p.customer_id) {op} ({last}, {arg(after_id)}::uuid)")
    order = "DESC" if descending else "ASC"
    sql = f"""
        SELECT page.*,
               (SELECT max(t.created_at) FROM tickets t WHERE t.customer_id = page.id)
                   AS last_contact_at
          FROM (
            SELECT c.id, c.name, c.email, c.phone, c.external_id, c.plan, c.erased_at,
                   p.orders, p.lifetime_value, p.avg_order_value, p.currency,
                   p.last_order_at, p.p_alive, p.churn_risk, p.segment, p.value_percentile,
                   {expression} AS sort_value
              FROM customer_profiles p JOIN customers c ON c.id = p.customer_id
             WHERE {" AND ".join(where)}
             ORDER BY {expression} {order}, p.customer_id {order}
             LIMIT {arg(query.limit + 1)}
          ) page
         ORDER BY page.sort_value {order}, page.id {order}
    """  # every value is a parameter; the expressions are the fixed SORT_KEYS
    return await conn.fetch(sql, *args)
