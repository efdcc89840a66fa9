"""The `fte worker` process: load the model once, consume until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from fte.agent.embeddings import get_embedder
from fte.channels.registry import build_registry
from fte.config import Settings
from fte.db import create_pool
from fte.worker.agent_consumer import AgentWorker

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, database_url: str) -> None:
    """Run one worker until told to stop; the batch in hand is finished first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    embedder = await asyncio.to_thread(get_embedder, settings.embedding_device)
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        worker = AgentWorker(pool, settings, embedder, build_registry(settings))
        await worker.run(stop, database_url)
    finally:
        await pool.close()
