"""Reading the mailbox: IMAP polling with UID tracking, so nothing is read twice.

The last UID filed is kept in `mailbox_state` per mailbox; when the server's UIDVALIDITY
changes the mailbox is read again from the start, and de-duplication by Message-ID keeps that
from filing anything twice. Several workers polling at once is safe for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import asyncpg

from fte.channels.imap_smtp.schemas import inbound_message
from fte.config import Settings
from fte.db import transaction
from fte.intake.service import file_inbound

log = logging.getLogger(__name__)
BATCH = 50  # messages fetched per poll; the rest come at the next one


@dataclass(frozen=True)
class Fetched:
    uidvalidity: int
    messages: list[tuple[int, bytes]]


def mailbox_key(url: str) -> str:
    """The mailbox, named without its password."""
    p = urlsplit(url)
    return f"{p.scheme}://{p.username or ''}@{p.hostname}:{p.port or ''}/{_mailbox(url)}"


def _mailbox(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/")) or "INBOX"


def fetch_new(url: str, uidvalidity: int | None, last_uid: int, timeout: float) -> Fetched:
    """Messages above `last_uid` (all of them when UIDVALIDITY changed), oldest first."""
    p = urlsplit(url)
    tls = p.scheme == "imaps"
    host, port = p.hostname or "localhost", p.port or (993 if tls else 143)
    imap = (
        imaplib.IMAP4_SSL(host, port, timeout=timeout)
        if tls
        else imaplib.IMAP4(host, port, timeout=timeout)
    )
    try:
        if not tls and "STARTTLS" in imap.capabilities:
            imap.starttls()
        imap.login(unquote(p.username or ""), unquote(p.password or ""))
        typ, _ = imap.select(_mailbox(url), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot select {_mailbox(url)!r}")
        _, validity = imap.response("UIDVALIDITY")
        current = int(validity[0]) if validity and validity[0] else 0
        start = last_uid + 1 if current == uidvalidity else 1
        _, found = imap.uid("SEARCH", "UID", f"{start}:*")
        # "n:*" names the last message even when its UID is below n: filter.
        uids = sorted(int(u) for u in (found[0] or b"").split() if int(u) >= start)[:BATCH]
        messages = []
        for uid in uids:
            _, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((d[1] for d in data if isinstance(d, tuple)), None)
            if raw is not None:
                messages.append((uid, raw))
        return Fetched(current, messages)
    finally:
        with contextlib.suppress(Exception):
            imap.logout()


class MailboxPoller:
    """Files new mail from the configured mailbox."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        assert settings.imap_url is not None and settings.email_from is not None
        self.pool = pool
        self.settings = settings
        self.url = settings.imap_url
        self.key = mailbox_key(settings.imap_url)

    async def poll_once(self) -> int:
        """Read and file what is new; the number of messages filed."""
        async with transaction(self.pool) as conn:
            state = await conn.fetchrow(
                "SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = $1", self.key
            )
        validity = state["uidvalidity"] if state else None
        last = state["last_uid"] if state else 0
        fetched = await asyncio.to_thread(
            fetch_new, self.url, validity, last, self.settings.delivery_timeout_seconds
        )
        filed = 0
        for uid, raw in fetched.messages:
            message = inbound_message(raw, self.settings.email_from or "")
            if message is not None:
                await file_inbound(self.pool, message)
                filed += 1
            await self._advance(fetched.uidvalidity, uid)
        if not fetched.messages and fetched.uidvalidity != validity:
            await self._advance(fetched.uidvalidity, 0)
        return filed

    async def _advance(self, uidvalidity: int, uid: int) -> None:
        async with transaction(self.pool) as conn:
            await conn.execute(
                """
                INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3)
                ON CONFLICT (mailbox) DO UPDATE
                SET uidvalidity = EXCLUDED.uidvalidity, last_uid = EXCLUDED.last_uid,
                    updated_at = now()
                """,
                self.key,
                uidvalidity,
                uid,
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every FTE_EMAIL_POLL_SECONDS until `stop` is set; failures are logged."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except (OSError, imaplib.IMAP4.error, asyncpg.PostgresError) as exc:
                log.warning("mailbox %s: %s", self.key, exc)
            except Exception:
                # A message or a server answer we did not expect must not stop the polling.
                log.exception("mailbox %s: poll failed", self.key)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.email_poll_seconds)
