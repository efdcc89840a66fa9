"""What an order is when it comes in (a file's row, a pushed event, a row of the sales
database), and the rules every one of them must pass.

The rules are written once, here: the bulk path checks them in SQL over a staging table
(`order_repository.BAD_ROWS`, using the same patterns) and the events API checks them in Python
(`OrderIn`); tests/customers/test_importer.py feeds both the same bad rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

# The columns of an import file, a pushed event and the sales query, in staging-table order.
COLUMNS = (
    "email",
    "external_id",
    "order_id",
    "amount",
    "currency",
    "ordered_at",
    "plan",
    "status",
    "name",
    "phone",
)
REQUIRED = ("order_id", "amount", "currency", "ordered_at")
MAX_TEXT = 200  # ids, plans, statuses, names
MAX_PHONE = 50

# POSIX-compatible patterns: PostgreSQL (`~`) and Python (`re.fullmatch`) read them alike.
EMAIL_RE = r"^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$"
AMOUNT_RE = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
CURRENCY_RE = r"^[A-Za-z]{3}$"
ISO_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)

# Why a field was refused, by the code the checks give.
REASONS = {
    "customer:missing": "email or external_id is required",
    "email:format": "not an email address",
    "external_id:long": f"longer than {MAX_TEXT} characters",
    "order_id:missing": "required",
    "order_id:long": f"longer than {MAX_TEXT} characters",
    "order_id:duplicate": "the same order_id appears more than once",
    "amount:missing": "required",
    "amount:format": "not an amount: digits with an optional decimal point, 0 or more",
    "currency:missing": "required",
    "currency:format": "not a three-letter currency code (ISO 4217, e.g. EUR)",
    "ordered_at:missing": "required",
    "ordered_at:format": "not an ISO 8601 date or datetime (2026-05-01 or 2026-05-01T10:00:00Z)",
    "ordered_at:date": "not a real date or time",
    "plan:long": f"longer than {MAX_TEXT} characters",
    "status:long": f"longer than {MAX_TEXT} characters",
    "name:long": f"longer than {MAX_TEXT} characters",
    "phone:long": f"longer than {MAX_PHONE} characters",
    "line:json": "not a JSON object",
}

_POSIX = {"[:space:]": r"\s"}


def python_pattern(pattern: str) -> re.Pattern[str]:
    """A shared pattern compiled for Python (`[:space:]` is a POSIX class Python lacks)."""
    for posix, python in _POSIX.items():
        pattern = pattern.replace(posix, python)
    return re.compile(pattern)


_EMAIL = python_pattern(EMAIL_RE)
_AMOUNT = python_pattern(AMOUNT_RE)
_CURRENCY = python_pattern(CURRENCY_RE)
_ISO = python_pattern(ISO_RE)


@dataclass(frozen=True)
class RowError:
    """One refused field: the line (of a file, or row of the sales query) and why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


def row_error(line: int, code: str) -> RowError:
    """The error for a check's code (`amount:format`); `customer` is reported as `email`."""
    field = code.split(":", 1)[0]
    return RowError(line, "email" if field == "customer" else field, REASONS[code])


@dataclass(frozen=True)
class UpsertSummary:
    """What storing a batch of orders did."""

    rows: int
    new: int
    updated: int
    customers_created: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.new - self.updated

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)

    def as_json(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "customers_created": self.customers_created,
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be text")
    return str(value).strip() or None


def parse_ordered_at(text: str) -> datetime:
    """An ISO 8601 date or datetime; without an offset it is UTC (as the bulk path reads it)."""
    if not _ISO.fullmatch(text):
        raise ValueError(REASONS["ordered_at:format"])
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(REASONS["ordered_at:date"]) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class OrderIn(BaseModel):
    """One order pushed to `POST /api/customers/events` (the route also requires email or
    external_id, naming `email` when both are missing)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "email": "ana@example.com",
                    "external_id": "CRM-1042",
                    "order_id": "SO-99812",
                    "amount": "129.90",
                    "currency": "EUR",
                    "ordered_at": "2026-05-01T10:42:00Z",
                    "plan": "pro",
                    "status": "paid",
                }
            ]
        },
    )

    email: str | None = None
    external_id: str | None = None
    order_id: str
    amount: str
    currency: str
    ordered_at: str
    plan: str | None = None
    status: str | None = None
    name: str | None = None
    phone: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> str | None:
        return _text(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.fullmatch(value):
            raise ValueError(REASONS["email:format"])
        return value.lower() if value else None

    @field_validator("external_id", "order_id", "plan", "status", "name")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_TEXT:
            raise ValueError(f"longer than {MAX_TEXT} characters")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_PHONE:
            raise ValueError(REASONS["phone:long"])
        return value

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        if not _AMOUNT.fullmatch(value):
            raise ValueError(REASONS["amount:format"])
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not _CURRENCY.fullmatch(value):
            raise ValueError(REASONS["currency:format"])
        return value.upper()

    @field_validator("ordered_at")
    @classmethod
    def _ordered_at(cls, value: str) -> str:
        parse_ordered_at(value)
        return value

    @property
    def when(self) -> datetime:
        return parse_ordered_at(self.ordered_at)

    @property
    def value(self) -> Decimal:
        return round(Decimal(self.amount), 2)
