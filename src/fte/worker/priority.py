"""Intake first: the worker's CPU priority below the API's on a shared machine.

Acknowledging a customer needs a commit, never the model; answering one needs the model. On
one machine (`fte up`, or `fte serve` beside `fte worker`) they share the cores, and at equal
priority a burst of submissions waits behind the embedding of a backlog (issue 22: p99 100 ms
with the worker paused, 507 ms with it busy). A niceness the kernel understands settles it:
whenever an API process (or a PostgreSQL backend serving it) is runnable it takes the core
from the worker, and whenever it is not the worker has every core, so answers are slowed only
by what intake actually uses, never paused. Nothing polls, nothing sleeps.

Three things run the worker's work, and all three are lowered:
- the worker process itself;
- its embedding processes, which inherit the niceness because they are started after it;
- its PostgreSQL backends, when the database runs on this machine and this user may renice
  them (the embedded one, run as this user or, under root, as its own): retrieval is most
  of the database's work per message, and at the default priority a worker's query would
  still take turns with the API's inserts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import psutil

from fte.ops import repository

log = logging.getLogger(__name__)

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}


def lower_priority(nice: int) -> int:
    """Raise this process's niceness to `nice` (never lower it: an unprivileged process
    cannot, and an operator may have started the worker nicer still); the niceness now."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError as exc:  # a sandbox that forbids it: run at the priority given
            log.warning("could not lower the worker's CPU priority to nice %d: %s", nice, exc)
            return current
    return os.getpriority(os.PRIO_PROCESS, 0)


def database_is_local(url: str) -> bool:
    """Whether the database's backends are processes on this machine (a Unix socket or a
    loopback address): only then can the worker renice its own backends."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    # A Unix socket given as ?host=/path in the query.
    if not host and "host=/" in parts.query:
        return True
    return host in LOCAL_HOSTS or host.startswith("/")


async def lower_backend_priority(conn: asyncpg.Connection, nice: int, server: set[int]) -> None:
    """Give this connection's PostgreSQL backend the worker's niceness, when it is a process
    on this machine that this user may renice; otherwise leave it be. `server` remembers the
    postmaster's pid once a backend has been proved ours."""
    row = await repository.backend_process(conn)
    with contextlib.suppress(psutil.Error, OSError):
        backend = psutil.Process(row["pid"])
        # The pid is the server's; a server in a container reports its own numbering. The
        # first backend must hold the other end of this very socket (reading the machine's
        # socket table: a few milliseconds), the others be children of the same postmaster.
        if not server:
            if row["port"] is not None:
                ends = {c.raddr.port for c in backend.net_connections(kind="tcp") if c.raddr}
                if row["port"] not in ends:
                    return
            elif "postgres" not in backend.name():
                return
            server.add(backend.ppid())
        elif backend.ppid() not in server:
            return
        if backend.nice() < nice:
            backend.nice(nice)


def backend_priority(
    database_url: str, nice: int
) -> Callable[[asyncpg.Connection], Awaitable[None]] | None:
    """The pool's per-connection hook that lowers its backend, when there is one to lower."""
    if nice <= 0 or not database_is_local(database_url):
        return None
    server: set[int] = set()

    async def hook(conn: asyncpg.Connection) -> None:
        await lower_backend_priority(conn, nice, server)

    return hook
