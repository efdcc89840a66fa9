"""Values from the database made JSON-ready, the same way for every reader (the API, MCP, the
operator's reports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal


def iso(value: date | None) -> str | None:
    """A time or date as ISO 8601; None stays None."""
    return value.isoformat() if value is not None else None


def number(value: Decimal | float | int | None) -> float | int | None:
    """A numeric column as a JSON number (a Decimal becomes a float); None stays None."""
    return float(value) if isinstance(value, Decimal) else value
