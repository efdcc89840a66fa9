"""The MCP server over stdio, for an assistant on the operator's own machine (`fte mcp`).

Whoever can start it holds the database's URL, so it runs as the local operator: every tool,
the admin one included, with notes signed `mcp:stdio`. Stdout carries the protocol alone;
logs go to stderr.
"""

from __future__ import annotations

import asyncpg

from fte.db import create_pool
from fte.mcp import access
from fte.mcp.server import build_server


async def serve(database_url: str) -> None:
    """Answer MCP requests on stdin/stdout until the client closes stdin."""
    pool: asyncpg.Pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        server = build_server(lambda: pool)
        access.current.set(access.LOCAL_OPERATOR)
        await server.run_stdio_async()
    finally:
        await pool.close()
