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


async def test_stdout_carries_only_protocol_messages(db_url: str) -> None:
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
    assert proc.stdin is not None
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    proc.stdin.write((json.dumps(hello) + "\n").encode())
    await proc.stdin.drain()
    proc.stdin.close()
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    lines = out.decode().splitlines()
    assert lines, err.decode()
    answers = [json.loads(line) for line in lines]  # any stray line fails here
    assert answers[0]["id"] == 1
    assert answers[0]["result"]["serverInfo"]["name"] == "customer-success-fte"
