"""`fte mcp`: the MCP server over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from fte.cli.context import database_url
from fte.config import get_settings
from fte.kit.logging import configure
from fte.ops import migrations


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send fd 1 to stderr for a while: starting the embedded database (and anything it
    prints) must not write a byte on the protocol's stream."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def mcp() -> None:
    """Serve the MCP tools (customers, tickets, knowledge base, internal notes) over stdio, as
    the local operator. Point an MCP client at `fte mcp`; logs go to stderr. Migrates the
    database first, as the other commands do."""
    from fte.mcp.stdio import serve

    settings = get_settings()
    configure(settings.log_level, "mcp", settings.log_format)
    with ExitStack() as stack:
        with _stdout_to_stderr():
            url = stack.enter_context(database_url(settings))
            # As the other commands do: a fresh embedded database gets its schema first.
            migrations.upgrade(url)
        try:
            asyncio.run(serve(url))
        finally:
            with _stdout_to_stderr():
                stack.close()  # stops an embedded database started for this command
