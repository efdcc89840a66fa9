"""The one transaction that files an inbound message: nothing is acknowledged before it commits."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from fte.customers import service as customer_links
from fte.customers.identities import normalise
from fte.db import DB_LOST, connection, transaction
from fte.intake import repository
from fte.kit import logging as trace
from fte.kit.metrics import TICKETS_CREATED
from fte.messaging import Identity, InboundMessage
from fte.tickets import priorities
from fte.tickets import repository as tickets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeResult:
    """Where the message was filed; `duplicate` when it had been filed before."""

    ticket_id: uuid.UUID
    ticket_number: int
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    duplicate: bool

    @classmethod
    def from_record(cls, row: asyncpg.Record, *, duplicate: bool) -> IntakeResult:
        """From a row with ticket_id, ticket_number, message_id, conversation_id, customer_id."""
        return cls(
            ticket_id=row["ticket_id"],
            ticket_number=row["ticket_number"],
            message_id=row["message_id"],
            conversation_id=row["conversation_id"],
            customer_id=row["customer_id"],
            duplicate=duplicate,
        )


def _storable(value: Any) -> Any:
    """Without NUL characters, which PostgreSQL's text and jsonb cannot hold (a broken email
    may carry them; they mean nothing to a reader)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def _cleaned(msg: InboundMessage) -> InboundMessage:
    return dataclasses.replace(
        msg,
        body=_storable(msg.body),
        subject=_storable(msg.subject),
        customer_name=_storable(msg.customer_name),
        metadata=_storable(msg.metadata),
        claimed=tuple(normalise(i) for i in msg.claimed),
    )


async def _file(
    conn: asyncpg.Connection, msg: InboundMessage, given: list[Identity]
) -> tuple[IntakeResult, bool]:
    row = await repository.file_message(conn, msg)
    if row is None:  # lost a race to a concurrent first contact; it has committed by now
        row = await repository.file_message(conn, msg)
    assert row is not None
    # "My email is ana@example.com" is a claim anyone can make: an operator decides.
    if given:
        await customer_links.suggest_claimed(conn, row["customer_id"], given, row["message_id"])
    if row["new_ticket"]:
        await _prioritise(conn, row, msg.channel)
    return IntakeResult.from_record(row, duplicate=False), bool(row["new_ticket"])


async def _prioritise(conn: asyncpg.Connection, row: asyncpg.Record, channel: str) -> None:
    """The priority rules on a new ticket: its customer's profile by primary key, and an
    update only when a rule raises it."""
    try:
        raised = await priorities.apply_on_filing(
            conn, row["ticket_id"], row["customer_id"], channel
        )
    except DB_LOST:
        # The message is filed (committed on its own on the fast path); the agent applies the
        # rules again once it has read the message, so a lost raise is late, not lost.
        log.warning("priority rules not applied on filing: the database went away")
        return
    if raised is not None:
        log.info("ticket #%s priority %s", row["ticket_number"], raised.reason)


async def _existing(conn: asyncpg.Connection, msg: InboundMessage) -> IntakeResult | None:
    if msg.external_id is None:
        return None
    row = await tickets.find_message_by_external_id(conn, msg.channel, msg.external_id)
    if row is None:
        return None
    return IntakeResult.from_record(row, duplicate=True)


async def file_inbound_in(conn: asyncpg.Connection, msg: InboundMessage) -> IntakeResult:
    """File the message inside the caller's transaction (in a savepoint), for an adapter whose
    own state must commit with it (e.g. a mailbox cursor); a message filed before is returned."""
    msg = _cleaned(msg)
    given = customer_links.other_identities(msg.identity, msg.body)
    async with conn.transaction():
        existing = await _existing(conn, msg)
        if existing is not None:
            return existing
        filed, new_ticket = await _file(conn, msg, given)
    if new_ticket:  # the caller commits its transaction right after
        TICKETS_CREATED.labels(msg.channel).inc()
    return filed


async def file_inbound(pool: asyncpg.Pool, msg: InboundMessage) -> IntakeResult:
    """File the message in one transaction; a redelivered message returns its first filing.
    The ticket and message ids are bound for the rest of the request's log lines."""
    result = await _file_once(pool, msg)
    trace.bind(ticket_id=result.ticket_id, message_id=result.message_id)
    log.info(
        "%s message filed on ticket #%s%s",
        msg.channel,
        result.ticket_number,
        " (a redelivery: already filed)" if result.duplicate else "",
    )
    return result


async def _file_once(pool: asyncpg.Pool, msg: InboundMessage) -> IntakeResult:
    msg = _cleaned(msg)
    given = customer_links.other_identities(msg.identity, msg.body)
    try:
        if msg.external_id is None and not given:
            # Most messages: nothing to look up first and nothing to link after, so the filing
            # is one statement, atomic on its own (a transaction took four round trips).
            async with connection(pool) as conn:
                filed, new_ticket = await _file(conn, msg, given)
        else:
            async with transaction(pool) as conn:
                existing = await _existing(conn, msg)
                if existing is not None:
                    return existing
                filed, new_ticket = await _file(conn, msg, given)
    except asyncpg.UniqueViolationError:
        # A concurrent delivery of the same message committed first; ours rolled back whole.
        async with transaction(pool) as conn:
            existing = await _existing(conn, msg)
        if existing is None:
            raise
        return existing
    if new_ticket:  # counted once committed: a rolled-back filing opened nothing
        TICKETS_CREATED.labels(msg.channel).inc()
    return filed
