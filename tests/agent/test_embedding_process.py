"""`fte worker`'s embedder: the same vectors from a child process, which is replaced when it
dies and exits when its worker does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import numpy as np
import psutil
import pytest

from fte.agent.embeddings import Embedder, EmbeddingProcess

TEXTS = ["I forgot my password", "Where is my invoice?", "Files are not syncing"]


@pytest.fixture(scope="module")
def process() -> Iterator[EmbeddingProcess]:
    embedder = EmbeddingProcess()
    try:
        yield embedder
    finally:
        embedder.close()


def _child(process: EmbeddingProcess) -> psutil.Process:
    child = psutil.Process(process.child_pid())
    assert child.ppid() == os.getpid()
    return child


def test_same_vectors_as_in_process(process: EmbeddingProcess, embedder: Embedder) -> None:
    np.testing.assert_allclose(process.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)
    assert process.embed([]).shape == (0, 384)


def test_a_killed_child_is_replaced(process: EmbeddingProcess, embedder: Embedder) -> None:
    process.embed(TEXTS[:1])
    first = _child(process)
    first.kill()
    first.wait(10)

    np.testing.assert_allclose(process.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)
    assert _child(process).pid != first.pid


def test_the_child_ignores_ctrl_c_and_sigterm(process: EmbeddingProcess) -> None:
    """They reach the whole process group; the worker finishes its batch first."""
    process.embed(TEXTS[:1])
    child = _child(process)
    child.send_signal(signal.SIGINT)
    child.send_signal(signal.SIGTERM)

    assert process.embed(TEXTS).shape == (3, 384)
    assert _child(process).pid == child.pid


def test_the_child_exits_when_its_worker_is_killed() -> None:
    script = textwrap.dedent(
        """
        import sys
        from fte.agent.embeddings import EmbeddingProcess
        embedder = EmbeddingProcess()
        embedder.embed(["hello"])
        print(embedder.child_pid(), flush=True)
        sys.stdin.read()
        """
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert worker.stdout is not None
    child = psutil.Process(int(worker.stdout.readline()))
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    deadline = time.monotonic() + 10
    while child.is_running() and child.status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the embedding process outlived its worker"
        time.sleep(0.1)
