"""Reading the mailbox: IMAP with UID tracking, so nothing is read twice; between reads the
worker waits in IDLE when the server offers it (`idle.py`), and polls otherwise.

The last UID filed is kept in `mailbox_state` per mailbox; when the server's UIDVALIDITY
changes the mailbox is read again from the start, and de-duplication by Message-ID keeps that
from filing anything twice. Several workers polling at once is safe for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from fte.channels.imap_smtp import repository
from fte.channels.imap_smtp.idle import Wake, connect, mailbox_name, wait_for_mail
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
    return f"{p.scheme}://{p.username or ''}@{p.hostname}:{p.port or ''}/{mailbox_name(url)}"


def fetch_new(url: str, uidvalidity: int | None, last_uid: int, timeout: float) -> Fetched:
    """Messages above `last_uid` (all of them when UIDVALIDITY changed), oldest first."""
    imap = connect(url, timeout)
    try:
        typ, _ = imap.select(mailbox_name(url), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot select {mailbox_name(url)!r}")
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
        # False once the server said it has no IDLE: no point asking at every poll.
        self.idle_offered = settings.email_idle

    async def poll_once(self) -> int:
        """Read and file what is new; the number of messages filed."""
        async with transaction(self.pool) as conn:
            validity, last = await repository.cursor(conn, self.key)
        fetched = await asyncio.to_thread(
            fetch_new, self.url, validity, last, self.settings.delivery_timeout_seconds
        )
        filed = 0
        for uid, raw in fetched.messages:
            try:
                message = inbound_message(raw, self.settings.email_from or "")
            except Exception:
                # Skipped, not retried: a mail we cannot read must not stop the mailbox.
                log.exception("mailbox %s: UID %d could not be read; skipped", self.key, uid)
                message = None
            if message is not None:
                await file_inbound(self.pool, message)
                filed += 1
            await self._advance(fetched.uidvalidity, uid)
        if not fetched.messages and fetched.uidvalidity != validity:
            await self._advance(fetched.uidvalidity, 0)
        return filed

    async def _advance(self, uidvalidity: int, uid: int) -> None:
        async with transaction(self.pool) as conn:
            await repository.advance(conn, self.key, uidvalidity, uid)

    async def run(self, stop: asyncio.Event) -> None:
        """Read the mailbox until `stop` is set: after each read, wait in IDLE for new mail
        when the server offers it, otherwise (or after any failure) FTE_EMAIL_POLL_SECONDS."""
        while not stop.is_set():
            idle = self.idle_offered
            try:
                await self.poll_once()
            except (OSError, imaplib.IMAP4.error, asyncpg.PostgresError) as exc:
                log.warning("mailbox %s: %s", self.key, exc)
                idle = False
            except Exception:
                # A message or a server answer we did not expect must not stop the reading.
                log.exception("mailbox %s: poll failed", self.key)
                idle = False
            if idle and await self._idle(stop) is not None:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.email_poll_seconds)

    async def _idle(self, stop: asyncio.Event) -> Wake | None:
        """One IDLE wait; None when the server has no IDLE or it failed (the caller polls)."""
        try:
            async with transaction(self.pool) as conn:
                validity, last = await repository.cursor(conn, self.key)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("mailbox %s: %s", self.key, exc)
            return None
        cancel = threading.Event()
        wait = asyncio.ensure_future(
            asyncio.to_thread(
                wait_for_mail,
                self.url,
                validity,
                last,
                idle_seconds=self.settings.email_idle_seconds,
                timeout=self.settings.delivery_timeout_seconds,
                cancel=cancel,
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({wait, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel.set()  # the thread sees it within a quarter of a second
            stopping.cancel()
        try:
            wake = await wait
        except (OSError, imaplib.IMAP4.error) as exc:
            log.warning("mailbox %s: IDLE failed, polling instead: %s", self.key, exc)
            return None
        except Exception:
            # A server answer we did not expect must not stop the reading: poll this round.
            log.exception("mailbox %s: IDLE failed, polling instead", self.key)
            return None
        if wake is Wake.UNSUPPORTED:
            log.info("mailbox %s: the server offers no IDLE; polling", self.key)
            self.idle_offered = False
            return None
        return wake
