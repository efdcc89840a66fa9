"""A worker whose background task dies stops, says why, and exits non-zero (to be restarted);
it never goes on looking alive without it."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from fte.channels.registry import build_registry
from fte.embeddings import Embedder
from fte.kit.tasks import BackgroundTaskDied
from fte.worker.queue_worker import QueueWorker
from tests.conftest import make_settings


class BrokenListener(QueueWorker):
    async def _listen(self, database_url: str, stop: asyncio.Event) -> None:
        raise RuntimeError("the listener broke")


async def test_a_dead_background_task_stops_the_worker_with_the_error_logged(
    pool: asyncpg.Pool, db_url: str, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    worker = BrokenListener(pool, settings, embedder, build_registry(settings), name="w1")
    stop = asyncio.Event()
    with caplog.at_level(logging.CRITICAL), pytest.raises(BackgroundTaskDied, match="broke"):
        await asyncio.wait_for(worker.run(stop, db_url), 60)
    assert stop.is_set()
    assert any(
        "background task listen died" in r.getMessage() and r.exc_info for r in caplog.records
    )
