"""Keyset pagination cursors: the sort key and id of the last row shown, opaque to the
reader, so the next page starts after it with an index range scan instead of an OFFSET that
reads every row before it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


def encode(key: Any, row_id: uuid.UUID) -> str:
    """The cursor after a row whose sort key is `key` (a number, an ISO time or None)."""
    raw = json.dumps([key, str(row_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[Any, uuid.UUID]:
    """(key, id) from a cursor; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        if key is not None and not isinstance(key, int | float | str):
            raise ValueError("bad key")
        return key, uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError("not a cursor") from exc
