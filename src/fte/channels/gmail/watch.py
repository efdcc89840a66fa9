"""The Gmail push watch: set up, stored, renewed before its 7 days run out, reported.

Gmail stops publishing to the Pub/Sub topic when the watch expires, so the worker renews it
when it expires within a day (`WatchRenewer`); `/health` calls the channel `degraded` in that
last day, and `fte_gmail_watch_expiry_timestamp_seconds` lets Prometheus alert on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Gauge

from fte.bus import topics
from fte.channels import state
from fte.channels.gmail import repository
from fte.channels.gmail.client import GmailClient
from fte.channels.gmail.schemas import CHANNEL
from fte.channels.gmail.sync import sync_mailbox
from fte.config import Settings
from fte.db import transaction
from fte.messaging import ChannelAuthError, ChannelUnavailable

log = logging.getLogger(__name__)

# Renew (and warn) when the watch has less than this left.
RENEW_WITHIN = timedelta(hours=24)

WATCH_EXPIRY = Gauge(
    "fte_gmail_watch_expiry_timestamp_seconds",
    "When the Gmail push watch expires (Unix time).",
    # With several API processes (prometheus multiprocess mode): one series, the latest.
    multiprocess_mode="max",
)


@dataclass(frozen=True)
class WatchStatus:
    """The stored watch: when it expires and how long that is from now (negative: expired)."""

    expires_at: datetime
    seconds_left: float

    @property
    def needs_renewal(self) -> bool:
        """True when the watch expires within a day (or has expired)."""
        return self.seconds_left < RENEW_WITHIN.total_seconds()


async def watch_status(conn: asyncpg.Connection, mailbox: str | None = None) -> WatchStatus | None:
    """The watch of `mailbox` (default: the soonest to expire); None when none was set up.
    Also sets the expiry gauge, so whoever asks keeps the metric current."""
    expires_at = await repository.watch_expiry(conn, mailbox)
    if expires_at is None:
        return None
    WATCH_EXPIRY.set(expires_at.timestamp())
    return WatchStatus(expires_at, (expires_at - datetime.now(UTC)).total_seconds())


async def setup_watch(pool: asyncpg.Pool, client: GmailClient, mailbox: str) -> WatchStatus:
    """Ask Gmail to publish the mailbox's INBOX changes to the topic; store the expiry (and the
    starting history id when the mailbox has no cursor yet)."""
    history_id, expiration_ms = await asyncio.to_thread(client.watch)
    try:
        expires_at = datetime.fromtimestamp(expiration_ms / 1000, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise ChannelUnavailable(f"Gmail's watch expiration is no time: {expiration_ms}") from exc
    async with transaction(pool) as conn:
        await repository.record_watch(conn, mailbox, history_id, expires_at)
    WATCH_EXPIRY.set(expires_at.timestamp())
    log.info("gmail watch on %s set up; expires %s", mailbox, expires_at.isoformat())
    return WatchStatus(expires_at, (expires_at - datetime.now(UTC)).total_seconds())


class WatchRenewer:
    """The worker's periodic job: renew the watch when it is missing or expires within a day."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, client: GmailClient | None = None):
        assert settings.gmail_address is not None
        self.pool = pool
        self.settings = settings
        self.client = client or GmailClient(settings)
        self.mailbox = settings.gmail_address.lower()

    async def renew_if_due(self) -> bool:
        """Renew when due; True when it did."""
        async with self.pool.acquire() as conn:
            status = await watch_status(conn, self.mailbox)
        if status is not None and not status.needs_renewal:
            return False
        await setup_watch(self.pool, self.client, self.mailbox)
        return True

    async def run_once(self) -> None:
        """Renew the watch when due, then read any mail a lost push did not announce."""
        await self.renew_if_due()
        await sync_mailbox(self.pool, self.client, self.mailbox)

    async def _credentials_work(self) -> None:
        """Gmail took our credentials: a channel they had disabled is enabled again."""
        async with self.pool.acquire() as conn:
            disabled = CHANNEL in await state.disabled(conn)
        if disabled:
            async with transaction(self.pool) as conn:
                await state.enable(conn, CHANNEL, "gmail watch renewal", topics.DELIVER)

    async def run(self, stop: asyncio.Event) -> None:
        """Check every FTE_GMAIL_WATCH_CHECK_SECONDS until `stop` is set; failures are logged."""
        while not stop.is_set():
            try:
                await self.run_once()
                await self._credentials_work()
            except ChannelAuthError as exc:
                log.error("gmail watch on %s: credentials refused: %s", self.mailbox, exc)
                async with transaction(self.pool) as conn:
                    await state.disable(conn, CHANNEL, str(exc), "gmail watch renewal")
            except (ChannelUnavailable, OSError, asyncpg.PostgresError) as exc:
                log.warning("gmail watch on %s: renewal or catch-up failed: %s", self.mailbox, exc)
            except Exception:
                # An answer we did not expect must not stop the renewals.
                log.exception("gmail watch on %s: renewal failed", self.mailbox)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.gmail_watch_check_seconds)
