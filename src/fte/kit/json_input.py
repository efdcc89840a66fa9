"""JSON from outside, read without a 500: too deep, not UTF-8 or a lone surrogate is a 422."""

from __future__ import annotations

import json
from typing import Any

from fte.errors import InvalidField


def load_json(data: bytes, field: str) -> Any:
    """The JSON value in `data`; InvalidField naming `field` for anything PostgreSQL or the
    parser cannot take."""
    try:
        value = json.loads(data)
    except RecursionError as exc:
        # Python's parser recurses per nesting level; a 60 kB body of brackets exhausts it.
        raise InvalidField(field, "nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidField(field, "not JSON") from exc
    try:
        # "\ud800" is valid JSON, but no UTF-8 text (and so no PostgreSQL text) can hold it.
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise InvalidField(field, "contains an unpaired surrogate (not Unicode text)") from exc
    except RecursionError as exc:
        raise InvalidField(field, "nested too deeply") from exc
    return value
