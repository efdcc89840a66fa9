"""Ticket shapes the API returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class PublicMessage(BaseModel):
    direction: Literal["inbound", "outbound"]
    author: Literal["you", "support"]
    body: str
    created_at: datetime


class PublicTicket(BaseModel):
    """A ticket as its customer sees it through the status link."""

    id: uuid.UUID
    number: int
    status: str
    subject: str | None
    created_at: datetime
    updated_at: datetime
    messages: list[PublicMessage]
