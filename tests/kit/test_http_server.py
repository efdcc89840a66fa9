"""Slow clients against the real server: a request's head and body each have a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import make_settings, serve_app

BOUND = 1.0  # seconds, for head and body alike
SLACK = 3.0  # scheduling on a shared machine; the old server held them for minutes


@pytest.fixture
async def api_bounded(db_url: str) -> AsyncIterator[tuple[str, int]]:
    settings = make_settings(
        FTE_REQUEST_HEADER_TIMEOUT_SECONDS=str(BOUND),
        FTE_REQUEST_BODY_TIMEOUT_SECONDS=str(BOUND),
    )
    async with serve_app(db_url, settings) as base:
        parts = urlsplit(base)
        assert parts.hostname and parts.port
        yield parts.hostname, parts.port


async def _dribble(writer: asyncio.StreamWriter, chunks: list[bytes], every: float) -> None:
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(every)
    except ConnectionError:
        pass  # the server hung up on us: what the test waits for


async def _held_for(
    address: tuple[str, int], first: bytes, dribbled: list[bytes]
) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it said before closing."""
    reader, writer = await asyncio.open_connection(*address)
    start = time.monotonic()
    writer.write(first)
    sender = asyncio.create_task(_dribble(writer, dribbled, every=0.2))
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=BOUND + SLACK + 5)
    finally:
        sender.cancel()
        writer.close()
    return time.monotonic() - start, answer


async def test_a_slow_body_is_answered_408_and_closed_within_the_bound(
    api_bounded: tuple[str, int],
) -> None:
    head = (
        b"POST /support/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 4000\r\n\r\n{"
    )
    held, answer = await _held_for(api_bounded, head, [b" "] * 1000)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert held < BOUND + SLACK


async def test_slow_headers_are_answered_408_and_closed_within_the_bound(
    api_bounded: tuple[str, int],
) -> None:
    held, answer = await _held_for(
        api_bounded, b"GET /health HTTP/1.1\r\nHost: x\r\n", [b"X-a: b\r\n"] * 1000
    )
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert held < BOUND + SLACK


async def test_a_connection_that_never_sends_is_closed(api_bounded: tuple[str, int]) -> None:
    held, _ = await _held_for(api_bounded, b"", [])
    assert held < BOUND + SLACK


async def test_many_slow_bodies_at_once_are_all_closed_and_the_server_still_answers(
    api_bounded: tuple[str, int],
) -> None:
    head = b"POST /support/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n"
    start = time.monotonic()
    results = await asyncio.gather(
        *[_held_for(api_bounded, head, [b" "] * 1000) for _ in range(50)]
    )
    assert all(answer.startswith(b"HTTP/1.1 408 ") for _, answer in results)
    assert time.monotonic() - start < BOUND + SLACK + 2
    host, port = api_bounded
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        assert (await client.get("/health")).status_code == 200


async def test_a_request_within_the_bounds_on_a_kept_alive_connection_is_served(
    api_bounded: tuple[str, int],
) -> None:
    host, port = api_bounded
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        for _ in range(3):  # one connection, several requests: each gets a fresh deadline
            assert (await client.get("/health")).status_code == 200
            await asyncio.sleep(BOUND * 0.6)


async def test_an_oversized_head_is_refused_431_and_closed(api_bounded: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*api_bounded)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    try:
        for i in range(200):  # 1.6 MB of headers, sent as fast as the server reads
            writer.write(b"X-%d: %s\r\n" % (i, b"a" * 8000))
            await writer.drain()
    except ConnectionError:
        pass  # refused before we finished: what we want
    try:
        answer = await asyncio.wait_for(reader.read(), timeout=BOUND + SLACK)
    except ConnectionResetError:
        # Closed with our unread headers in its buffer: the kernel resets, and the 431 it
        # wrote first may be lost on the way. Refused either way.
        answer = b"reset"
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b"reset", answer[:100]


async def test_a_large_body_sent_with_its_head_in_one_write_is_served(
    api_bounded: tuple[str, int],
) -> None:
    host, port = api_bounded
    form = {"name": "Sam", "email": "sam@example.com", "subject": "Hi", "message": "x" * 60_000}
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
        response = await client.post("/support/submit", json=form)
    assert response.status_code != 431
    assert response.status_code < 500
