"""The customer API's bodies."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class MergeRequest(BaseModel):
    """`POST /api/admin/customers/{keep_id}/merge`: the customer merged into the one kept."""

    model_config = ConfigDict(extra="forbid")

    other_id: uuid.UUID
