"""Keyset pagination cursors: the sort key and id of the last row shown, opaque to the
reader, so the next page starts after it with an index range scan instead of an OFFSET that
reads every row before it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


class OtherScope(ValueError):
    """A cursor made for another scope (another sort of the same list)."""


def encode(key: Any, row_id: uuid.UUID, scope: str | None = None) -> str:
    """The cursor after a row whose sort key is `key` (a number, an ISO time or None); with
    `scope` (e.g. the sort's name), only a decode for the same scope accepts it."""
    parts = [key, str(row_id)] if scope is None else [scope, key, str(row_id)]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, scope: str | None = None) -> tuple[Any, uuid.UUID]:
    """(key, id) from a cursor; OtherScope when it was made for another `scope`, ValueError
    when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        made_for = parts.pop(0) if scope is not None else None
        key, row_id = parts
        if key is not None and not isinstance(key, int | float | str):
            raise ValueError("bad key")
        found = key, uuid.UUID(row_id)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ValueError("not a cursor") from exc
    if made_for != scope:
        raise OtherScope("made for another scope")
    return found
