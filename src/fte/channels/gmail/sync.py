"""Reading new mail through the Gmail API history, from the stored cursor.

The cursor (the last history id filed, per mailbox) moves only in the transaction that files
the messages: a crash between fetching and committing reads the same history again, and the
Gmail message id (the external id) keeps that from filing anything twice.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from fte.channels.gmail import repository
from fte.channels.gmail.client import GmailClient, HistoryGone
from fte.channels.gmail.schemas import inbound_message
from fte.db import transaction
from fte.intake.service import file_inbound_in
from fte.messaging import InboundMessage

log = logging.getLogger(__name__)
# Messages listed when the history cannot be read (no cursor yet, or one Gmail forgot).
RECENT = 25


async def sync_mailbox(
    pool: asyncpg.Pool, client: GmailClient, mailbox: str, notified_history_id: int | None = None
) -> int:
    """File the mailbox's new mail; the number of messages newly filed. With the history id of
    a push, a push for history already read returns at once, without asking Gmail."""
    async with pool.acquire() as conn:
        cursor = await repository.history_cursor(conn, mailbox)
    if cursor is not None and notified_history_id is not None and cursor >= notified_history_id:
        return 0  # a redelivered (or late) push: everything up to it is filed already
    if cursor is None:
        log.info("gmail %s: no history cursor yet; reading the %d latest messages", mailbox, RECENT)
        ids, latest = await asyncio.to_thread(client.recent, RECENT)
    else:
        try:
            ids, latest = await asyncio.to_thread(client.history, cursor)
        except HistoryGone:
            log.warning(
                "gmail %s: history id %d is too old for Gmail (404); reading the %d latest "
                "messages instead: mail older than those, if any, was not read",
                mailbox,
                cursor,
                RECENT,
            )
            ids, latest = await asyncio.to_thread(client.recent, RECENT)
    messages = await _fetch(client, mailbox, ids)
    filed = 0
    async with transaction(pool) as conn:
        await repository.lock_mailbox(conn, mailbox)
        for message in messages:
            if not (await file_inbound_in(conn, message)).duplicate:
                filed += 1
        await repository.advance_cursor(conn, mailbox, latest)
    if filed:
        log.info("gmail %s: filed %d new messages (history id %d)", mailbox, filed, latest)
    return filed


async def _fetch(client: GmailClient, mailbox: str, ids: list[str]) -> list[InboundMessage]:
    """The customers' messages among `ids`, oldest first; gone ones (deleted since) skipped."""
    messages = []
    for gmail_id in ids:
        fetched = await asyncio.to_thread(client.get_raw, gmail_id)
        if fetched is None:
            continue
        raw, thread_id = fetched
        message = inbound_message(raw, gmail_id, thread_id, mailbox)
        if message is not None:
            messages.append(message)
    return messages
