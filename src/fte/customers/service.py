"""One customer across channels: a customer is found only by an identity its channel proved,
and an operator merges two customers who turn out to be one.

An address or number stated in a message ("my email is ...") or typed into the web form is a
claim, never proof: anyone can type someone else's. A claim never links an identity; it is
recorded as a suggestion for an operator, who confirms it with a merge.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from fte.auth.repository import audit
from fte.customers import repository
from fte.customers.identities import given_in, normalise
from fte.errors import FteError, NotFound
from fte.messaging import Identity


class MergeConflict(FteError):
    status_code = 409


@dataclass(frozen=True)
class MergeResult:
    """The merge done; `merged` False when the other had been merged into `keep` already."""

    keep_id: uuid.UUID
    other_id: uuid.UUID
    merged: bool
    moved: dict[str, int]

    def as_json(self) -> dict[str, object]:
        """For the API and `--json`."""
        return {
            "keep_id": str(self.keep_id),
            "other_id": str(self.other_id),
            "merged": self.merged,
            "moved": self.moved,
        }


def other_identities(own: Identity, text: str) -> list[Identity]:
    """The identities the customer gives as theirs in `text`, besides the one they wrote from."""
    own = normalise(own)
    return [identity for identity in given_in(text) if identity != own]


async def suggest_claimed(
    conn: asyncpg.Connection,
    customer_id: uuid.UUID,
    given: list[Identity],
    message_id: uuid.UUID,
) -> list[Identity]:
    """Record the identities a message's text claims (`other_identities`) for an operator, in
    the intake transaction, even when nobody owns them yet; those recorded. (A form's contact
    field is offered by the filing statement itself, and only when someone owns it.)"""
    suggested = []
    for identity in given:
        owner = await repository.identity_owner(conn, identity)
        if owner == customer_id:
            continue
        if await repository.suggest_link(conn, customer_id, owner, identity, message_id):
            suggested.append(identity)
    return suggested


async def merge(
    conn: asyncpg.Connection, keep_id: uuid.UUID, other_id: uuid.UUID, actor: str
) -> MergeResult:
    """Move everything of `other_id` to `keep_id` (in the caller's transaction) and audit it.
    404 for an unknown id, 422 for the same id twice, 409 when either was merged elsewhere;
    merging the same pair again changes nothing."""
    if keep_id == other_id:
        raise FteError(
            "invalid request",
            detail=[{"field": "other_id", "reason": "is the customer to keep"}],
            status_code=422,
        )
    found = await repository.lock_customers(conn, [keep_id, other_id])
    for name, cid in (("keep_id", keep_id), ("other_id", other_id)):
        if cid not in found:
            raise NotFound(f"no customer {cid}", detail=[{"field": name, "reason": "not found"}])
    keep, other = found[keep_id], found[other_id]
    if keep["merged_into"] is not None:
        raise MergeConflict(
            f"customer {keep_id} was merged into {keep['merged_into']}; keep that one instead"
        )
    if other["merged_into"] == keep_id:
        return MergeResult(keep_id, other_id, merged=False, moved={})
    if other["merged_into"] is not None:
        raise MergeConflict(f"customer {other_id} was merged into {other['merged_into']} already")
    moved = await repository.move_everything(conn, keep_id, other_id)
    await audit(
        conn,
        actor,
        "customer.merge",
        None,
        {"keep_id": str(keep_id), "other_id": str(other_id), "moved": moved},
    )
    return MergeResult(keep_id, other_id, merged=True, moved=moved)
