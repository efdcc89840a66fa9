"""What the Customer Intelligence API answers, for the OpenAPI document.

The shapes are made by `customers/profiles.py` (one shape for every reader); these models
describe them with examples and let a field added there through (`extra="allow"`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_ID = "5b0e6a8e-2f7c-4d8e-9a51-0c1d2e3f4a5b"

PROFILE_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+14155550100",
    "external_id": "crm-1815",
    "plan": "pro",
    "customer_since": "2020-03-01T09:00:00+00:00",
    "erased": False,
    "purchases": {
        "orders": 40,
        "lifetime_value": 5120.0,
        "avg_order_value": 128.0,
        "currency": "EUR",
        "first_order_at": "2020-03-02T10:00:00+00:00",
        "last_order_at": "2026-08-14T16:20:00+00:00",
        "days_since_last_order": 111,
        "value_percentile": 0.97,
    },
    "predictions": {
        "p_alive": 0.41,
        "expected_purchases_90d": 0.8,
        "expected_value_90d": 102.4,
        "churn_risk": 0.59,
        "churn_factors": [
            {"factor": "recency", "weight": 0.6, "detail": "no order for 111 days"},
        ],
        "segment": "at_risk",
        "scored_at": "2026-12-03T02:00:00+00:00",
    },
    "support": {
        "tickets_90d": 3,
        "escalations_90d": 1,
        "repeat_contacts_90d": 1,
        "last_contact_at": "2026-12-01T08:30:00+00:00",
        "sentiment_trend": "worsening",
    },
}

SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "external_id": "crm-1815",
    "plan": "pro",
    "erased": False,
    "orders": 40,
    "lifetime_value": 5120.0,
    "currency": "EUR",
    "last_order_at": "2026-08-14T16:20:00+00:00",
    "last_contact_at": "2026-12-01T08:30:00+00:00",
    "p_alive": 0.41,
    "churn_risk": 0.59,
    "segment": "at_risk",
    "value_percentile": 0.97,
}

TICKET_EXAMPLE: dict[str, Any] = {
    "id": "9c4f1d2e-0a3b-4c5d-8e7f-6a5b4c3d2e1f",
    "number": 1042,
    "subject": "Refund for order 7731",
    "status": "escalated",
    "priority": "high",
    "channel": "email",
    "escalation_reason": "refund_or_pricing",
    "created_at": "2026-12-01T08:30:00+00:00",
}


class CustomerProfile(BaseModel):
    """A customer's profile: who they are, what they bought, what the model predicts, how
    their support went (`purchases` and `predictions` are null before their first scored
    order)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [PROFILE_EXAMPLE]})

    id: str
    name: str | None
    email: str | None
    phone: str | None
    external_id: str | None
    plan: str | None
    customer_since: str | None
    erased: bool
    purchases: dict[str, Any] | None
    predictions: dict[str, Any] | None
    support: dict[str, Any]


class CustomerSummary(BaseModel):
    """One customer in a search result; the full profile is `GET /api/customers/{key}`."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [SUMMARY_EXAMPLE]})

    id: str
    name: str | None
    email: str | None
    external_id: str | None
    plan: str | None
    erased: bool
    orders: int
    lifetime_value: float
    currency: str | None
    last_order_at: str | None
    last_contact_at: str | None
    p_alive: float | None
    churn_risk: float | None
    segment: str | None
    value_percentile: float | None


class CustomerPage(BaseModel):
    """One page of a search; pass `next_cursor` as `cursor` for the next (null: the last)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [SUMMARY_EXAMPLE], "next_cursor": "WyItdmFsdWUiLCI1MTIwLjAw"}]
        }
    )

    items: list[CustomerSummary]
    next_cursor: str | None


class CustomerTicket(BaseModel):
    """One of a customer's tickets, newest first."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [TICKET_EXAMPLE]})

    id: str
    number: int | None
    subject: str | None
    status: str
    priority: str | None
    channel: str | None
    escalation_reason: str | None
    created_at: str | None


class CustomerTickets(BaseModel):
    """A customer's latest tickets."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customer_id": _ID, "tickets": [TICKET_EXAMPLE]}]}
    )

    customer_id: str
    tickets: list[CustomerTicket]
