"""The web form's request and response bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class WebFormSubmission(BaseModel):
    """What a customer submits. Email syntax is checked; no DNS look-up is made."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr
    subject: Annotated[Text, StringConstraints(min_length=1, max_length=300)]
    message: Annotated[Text, StringConstraints(min_length=1, max_length=20_000)]
    category: Annotated[Text, StringConstraints(max_length=50)] | None = None
    priority: Literal["low", "medium", "high", "urgent"] = "medium"

    @field_validator("category")
    @classmethod
    def _empty_category_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("email")
    @classmethod
    def _lowercase_email(cls, value: str) -> str:
        # One customer per mailbox, however they capitalise it.
        return value.lower()


class SubmissionReceipt(BaseModel):
    """The answer to a submission: where to follow the ticket."""

    ticket_id: uuid.UUID
    ticket_number: int
    status_url: str
    duplicate: bool = Field(description="True when this submission had been received before")


TokenField = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CustomerReply(BaseModel):
    """The customer writes back on their ticket's page; `token` is the page's link token."""

    model_config = ConfigDict(extra="forbid")

    token: TokenField
    message: Annotated[Text, StringConstraints(min_length=1, max_length=20_000)]


class CustomerRating(BaseModel):
    """The customer's satisfaction with a solved ticket; rating again replaces it."""

    model_config = ConfigDict(extra="forbid")

    token: TokenField
    score: int = Field(ge=1, le=5)
    comment: Annotated[Text, StringConstraints(max_length=2_000)] | None = None

    @field_validator("comment")
    @classmethod
    def _empty_comment_is_none(cls, value: str | None) -> str | None:
        return value or None


class ReplyReceipt(BaseModel):
    """Where the customer's reply was filed: their ticket (reopened if it was solved), or a new
    one when the old ticket was closed or solved long ago."""

    ticket_id: uuid.UUID
    ticket_number: int
    status_url: str
    duplicate: bool
