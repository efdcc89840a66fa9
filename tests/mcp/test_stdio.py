"""`fte mcp` spoken to by the official SDK's stdio client, as Claude Desktop starts it: the
process runs as the local operator, and its stdout carries the protocol and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from fte.ops.embedded_postgres import EmbeddedPostgres
from tests.mcp.helpers import TOOLS, data, seed, text

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env(db_url: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    return {"DATABASE_URL": db_url, "PYTHONPATH": path, "FTE_LOG_LEVEL": "INFO"}


async def test_the_stdio_server_answers_every_tool_as_the_local_operator(
    db_url: str, pool: asyncpg.Pool
) -> None:
    seeded = await seed(pool)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "fte", "mcp"], env=_env(db_url)
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as mcp,
    ):
        await mcp.initialize()
        assert {t.name for t in (await mcp.list_tools()).tools} == TOOLS
        customer = data(await mcp.call_tool("get_customer", {"key": seeded.customer_id}))
        assert customer["email"] == "ana@example.com"
        assert data(await mcp.call_tool("search_customers", {"q": "ana@"}))["count"] == 1
        ticket = data(await mcp.call_tool("get_ticket", {"ticket": str(seeded.ticket_number)}))
        assert ticket["messages"][0]["author"] == "customer"
        assert data(await mcp.call_tool("search_tickets", {"q": "refund"}))["count"] == 1
        kb = data(await mcp.call_tool("search_knowledge_base", {"query": "refunds", "limit": 1}))
        assert kb["articles"][0]["excerpt"].startswith("Refunds reach your card")
        note = data(
            await mcp.call_tool("add_internal_note", {"ticket": seeded.ticket_id, "text": "ok"})
        )
        assert note["author"] == "mcp:stdio"
        unknown = await mcp.call_tool("get_customer", {"key": "CRM-404"})
        assert unknown.is_error
        assert "no customer is known by 'CRM-404'" in text(unknown)


async def test_on_a_fresh_database_stdout_carries_only_protocol_messages(
    postgres: EmbeddedPostgres,
) -> None:
    """An empty database, as a first `fte mcp` on a new machine meets it: the schema is made
    first (alembic's output stays off stdout), and every stdout line is a protocol message."""
    admin = await asyncpg.connect(postgres.url("postgres"))
    name = f"mcp_fresh_{os.getpid()}"
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        lines = await _converse(postgres.url(name))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    answers = [json.loads(line) for line in lines]  # any stray line fails here
    assert answers[0]["id"] == 1
    assert answers[0]["result"]["serverInfo"]["name"] == "customer-success-fte"
    assert answers[-1]["id"] == 2
    result = answers[-1]["result"]
    assert result["isError"] is True
    assert "no customer is known by 'nobody@example.com'" in result["content"][0]["text"]


async def _converse(db_url: str) -> list[str]:
    """Initialize, then call one tool, by hand on the raw pipe; every stdout line until the
    tool's answer."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fte",
        "mcp",
        env={**os.environ, **_env(db_url)},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_customer", "arguments": {"key": "nobody@example.com"}},
        },
    ]
    proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
    await proc.stdin.drain()
    lines: list[str] = []
    try:
        async with asyncio.timeout(120):
            while not lines or '"id":2' not in lines[-1].replace(" ", ""):
                line = await proc.stdout.readline()
                assert line, "stdout closed before the answer"
                lines.append(line.decode())
    finally:
        proc.stdin.close()
        await proc.wait()
    return lines
