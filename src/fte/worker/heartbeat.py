"""The worker's heartbeat: its row in `worker_heartbeats`, beaten until it stops, removed when
it stops cleanly. `/health` and `fte doctor` count the workers alive from these rows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

import asyncpg

from fte.config import Settings
from fte.ops import heartbeats
from fte.worker.loops import DB_DOWN, sleep_or_stop

log = logging.getLogger(__name__)


class Heartbeat:
    """Beats every FTE_WORKER_HEARTBEAT_SECONDS until `stop`; a lost database is waited out."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings):
        self.pool = pool
        self.settings = settings
        self.id = uuid.uuid4()  # not host:pid: a restarted container's worker is pid 1 again

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`, then remove the row."""
        seconds = self.settings.worker_heartbeat_seconds
        with contextlib.suppress(*DB_DOWN, asyncpg.PostgresError):
            async with self.pool.acquire(timeout=seconds) as conn:
                await heartbeats.prune(conn)
        missed = False
        try:
            while not stop.is_set():
                try:
                    async with self.pool.acquire(timeout=seconds) as conn:
                        await heartbeats.beat(
                            conn, self.id, socket.gethostname(), os.getpid(), self.settings.bus
                        )
                    missed = False
                except (*DB_DOWN, asyncpg.PostgresError) as exc:
                    if not missed:  # once per outage, not once per beat
                        log.warning("heartbeat not recorded (%r); retrying", exc)
                    missed = True
                await sleep_or_stop(stop, seconds)
        finally:
            with contextlib.suppress(Exception):
                async with self.pool.acquire(timeout=2) as conn:
                    await heartbeats.forget(conn, self.id)
