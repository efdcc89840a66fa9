"""What every worker loop shares: its name, what a lost database looks like, and waiting until
stopped or woken."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import asyncpg

from fte.bus import postgres_queue as queue
from fte.db import DB_LOST, asyncpg_dsn
from fte.errors import ServiceUnavailable

# What a lost database looks like from here: wait and try again, never crash the worker.
# ServiceUnavailable: `transaction()` found no connection to acquire.
DB_DOWN = (ServiceUnavailable, *DB_LOST)


def worker_id() -> str:
    """host:pid, stored on claims and agent runs so an operator can tell workers apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def first_of(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait until `stop` or `wake` is set, at most `seconds`."""
    waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def listen_for_jobs(database_url: str, stop: asyncio.Event, wake: asyncio.Event) -> None:
    """LISTEN for new outbox rows and set `wake` for each, so an idle worker starts at once,
    not at its next poll; reconnects while the database is away, until `stop`."""
    while not stop.is_set():
        try:
            conn = await asyncpg.connect(asyncpg_dsn(database_url), timeout=5)
        except (*DB_DOWN, asyncpg.PostgresError):
            await sleep_or_stop(stop, 2.0)
            continue
        try:
            await conn.add_listener(queue.NOTIFY_CHANNEL, lambda *_: wake.set())
            while not stop.is_set() and not conn.is_closed():
                await sleep_or_stop(stop, 1.0)
        except (*DB_DOWN, asyncpg.PostgresError):
            pass
        finally:
            if not conn.is_closed():
                await conn.close(timeout=2)
        wake.set()  # a notification may have been missed while reconnecting
