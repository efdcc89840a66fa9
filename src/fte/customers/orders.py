"""What an order is when it comes in (a file's row, a pushed event, a row of the sales
database), and the rules every one of them must pass.

The rules are written once, here: the bulk path checks them in SQL over a staging table
(`order_repository.BAD_ROWS`, using the same patterns) and the events API checks them in Python
(`OrderIn`); tests/customers/test_importer.py feeds both the same bad rows.
"""

from __future__ import annotations

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

# The rules are character sets and fixed positions. The bulk path tests them with one
# anchored bracket expression each (`order_repository._ISO`: ~0.2 µs a row, where
# `translate()` over the same set costs ~1.2 µs).
AMOUNT_CHARS = "0123456789."  # and it fits numeric(14, 2)
CURRENCY_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # three of them, any case
# YYYY-MM-DD, then optionally a time and an offset in these characters; and a real date.
TIME_CHARS = "0123456789-:.+TZtz "
MAX_AMOUNT = Decimal(10) ** 12

# Why a field was refused, by the code the checks give.
REASONS = {
    "customer:missing": "email or external_id is required",
    "email:format": "not an email address",
    "external_id:long": f"longer than {MAX_TEXT} characters",
    "order_id:missing": "required",
    "order_id:long": f"longer than {MAX_TEXT} characters",
    "order_id:duplicate": "the same order_id appears more than once",
    "amount:missing": "required",
    "amount:format": "not an amount: digits with an optional decimal point, 0 or more, below 10^12",
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


def valid_email(text: str) -> bool:
    """Something@something.something, one @, no spaces (as the SQL: LIKE '_%@_%._%')."""
    local, at, domain = text.partition("@")
    return (
        bool(local and at)
        and "@" not in domain
        and "." in domain[1:-1]
        and not any(ch.isspace() for ch in text)
    )


def valid_amount(text: str) -> bool:
    """Digits with at most one decimal point, below 10^12 once rounded to cents."""
    if not text or set(text) - set(AMOUNT_CHARS) or text.count(".") > 1 or text == ".":
        return False
    return round(Decimal(text), 2) < MAX_AMOUNT


def valid_currency(text: str) -> bool:
    return len(text) == 3 and not set(text.upper()) - set(CURRENCY_LETTERS)


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


def iso_shaped(text: str) -> bool:
    """YYYY-MM-DD first, and only the characters of an ISO 8601 time after it."""
    return len(text) >= 10 and text[4] == "-" and text[7] == "-" and not set(text) - set(TIME_CHARS)


def parse_ordered_at(text: str) -> datetime:
    """An ISO 8601 date or datetime; without an offset it is UTC (as the bulk path reads it)."""
    if not iso_shaped(text):
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
        if value is not None and not valid_email(value):
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
        if not valid_amount(value):
            raise ValueError(REASONS["amount:format"])
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not valid_currency(value):
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
