"""Real PostgreSQL (the embedded wheel), built by the migrations, one fresh database per test."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn

from fte.app import create_app
from fte.config import Settings, get_settings
from fte.db import create_pool
from fte.embeddings import Embedder, get_embedder
from fte.kit.http_server import server_options
from fte.knowledge.importer import DEMO_KB, read_articles
from fte.knowledge.service import import_articles
from fte.ops import migrations
from fte.ops.embedded_postgres import EmbeddedPostgres

TEMPLATE = "fte_template"
KB_TEMPLATE = "fte_kb_template"
_counter = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_settings() -> None:
    """Each test's CLI calls read the environment they are given: `get_settings` is cached per
    process, which is right for a real `fte` command and wrong for many in one test session
    (an `fte eval` test's settings sent a later test's `fte sentiment train` to another
    database)."""
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's basetemp: a pytest session starting later on the same machine prunes
    # old basetemps, which would pull the data directory from under the running server.
    data = Path(tempfile.mkdtemp(prefix="fte-test-pg-"))
    server = EmbeddedPostgres(data)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder("cpu")


async def _admin(server: EmbeddedPostgres) -> asyncpg.Connection:
    return await asyncpg.connect(server.url("postgres"))


@pytest.fixture(scope="session")
async def template_db(postgres: EmbeddedPostgres) -> str:
    conn = await _admin(postgres)
    try:
        await conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    finally:
        await conn.close()
    await asyncio.to_thread(migrations.upgrade, postgres.url(TEMPLATE))
    return TEMPLATE


@pytest.fixture(scope="session")
async def kb_template_db(postgres: EmbeddedPostgres, template_db: str, embedder: Embedder) -> str:
    """The migrated schema with the demo knowledge base imported."""
    conn = await _admin(postgres)
    try:
        await conn.execute(f'CREATE DATABASE "{KB_TEMPLATE}" TEMPLATE "{template_db}"')
    finally:
        await conn.close()
    pool = await create_pool(postgres.url(KB_TEMPLATE), min_size=1, max_size=2)
    try:
        await import_articles(pool, read_articles(DEMO_KB), embedder)
    finally:
        await pool.close()
    return KB_TEMPLATE


async def _fresh_database(server: EmbeddedPostgres, template: str) -> str:
    name = f"test_{os.getpid()}_{next(_counter)}"
    conn = await _admin(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return name


async def _drop_database(server: EmbeddedPostgres, name: str) -> None:
    conn = await _admin(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def db_url(postgres: EmbeddedPostgres, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for this test."""
    name = await _fresh_database(postgres, template_db)
    yield postgres.url(name)
    await _drop_database(postgres, name)


@pytest.fixture
async def kb_db_url(postgres: EmbeddedPostgres, kb_template_db: str) -> AsyncIterator[str]:
    """A fresh database holding the demo knowledge base."""
    name = await _fresh_database(postgres, kb_template_db)
    yield postgres.url(name)
    await _drop_database(postgres, name)


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(db_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture
async def kb_pool(kb_db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(kb_db_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path


def make_settings(**env: str) -> Settings:
    """Settings for an app under test, independent of the developer's environment."""
    # Tests submit many forms from 127.0.0.1 within a minute: the per-IP form limit is off
    # unless a test sets it (tests/channels/test_rate_limits.py).
    values = {
        "FTE_SECRET_KEY": "test-secret",
        "FTE_PUBLIC_URL": "http://testserver",
        "FTE_FORM_RATE_LIMIT": "0",
        **env,
    }
    return Settings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def serve_app(database_url: str, settings: Settings) -> AsyncIterator[str]:
    """The real app behind a real uvicorn HTTP server on a free port, in this event loop."""
    app = create_app(database_url, settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **server_options(settings),  # as `fte serve` runs it
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[str]:
    """Base URL of the API on a fresh database."""
    async with serve_app(db_url, make_settings()) as base:
        yield base


@pytest.fixture
async def client(api: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api, timeout=10) as c:
        yield c
