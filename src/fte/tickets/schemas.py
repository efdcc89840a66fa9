"""Ticket shapes the API returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class PublicMessage(BaseModel):
    direction: Literal["inbound", "outbound"]
    author: Literal["you", "support"]
    body: str
    created_at: datetime


CustomerState = Literal["on_it", "waiting_for_you", "solved"]


class PublicRating(BaseModel):
    score: int
    comment: str | None


class PublicTicket(BaseModel):
    """A ticket as its customer sees it through the status link."""

    id: uuid.UUID
    number: int
    status: str = Field(description="The ticket's status as staff see it (for integrations)")
    state: CustomerState = Field(
        description="What the customer is told: on_it (open, with the agent or a person), "
        "waiting_for_you (answered), solved (resolved or closed)"
    )
    status_text: str = Field(description="`state` in the customer's words")
    can_reply: bool = Field(description="False once the ticket is closed")
    rating: PublicRating | None = Field(description="The customer's rating, once given")
    subject: str | None
    created_at: datetime
    updated_at: datetime
    messages: list[PublicMessage]
