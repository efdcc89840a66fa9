"""Background tasks that cannot die silently: a task that ends with an error stops its process,
which then exits non-zero, so the supervisor (`fte up`, Kubernetes) restarts it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTaskDied(RuntimeError):
    """A background task ended with an error; the process must stop and be restarted."""


class Watchdog:
    """Starts tasks and watches them: the first one to fail is logged and sets `stop`."""

    def __init__(self, stop: asyncio.Event):
        self.stop = stop
        self.died: list[tuple[str, BaseException]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a watched task."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        # Logged now, not when the process finally stops: an operator sees why at once.
        log.critical("background task %s died; stopping the worker", task.get_name(), exc_info=exc)
        self.died.append((task.get_name(), exc))
        self.stop.set()

    async def close(self, *, cancel: bool = False) -> None:
        """Wait for the tasks still running (they end when `stop` is set), or cancel them."""
        tasks = list(self._tasks)
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def check(self) -> None:
        """Raise `BackgroundTaskDied` if any task failed."""
        if self.died:
            name, exc = self.died[0]
            raise BackgroundTaskDied(f"background task {name} died: {exc!r}") from exc
