"""`fte worker`'s embedder: the same vectors from child processes, which are replaced when one
dies and exit when their worker does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psutil
import pytest

from fte.embeddings import Embedder, EmbeddingProcess, default_processes
from fte.embeddings import model as embeddings
from tests.fixtures.waiting import eventually_blocking

TEXTS = ["I forgot my password", "Where is my invoice?", "Files are not syncing"]


@pytest.fixture(scope="module")
def process() -> Iterator[EmbeddingProcess]:
    embedder = EmbeddingProcess()
    try:
        yield embedder
    finally:
        embedder.close()


def _child(process: EmbeddingProcess) -> psutil.Process:
    (pid,) = process.start()
    child = psutil.Process(pid)
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


def test_ctrl_c_on_the_worker_does_not_stop_its_children() -> None:
    """Ctrl-C reaches the terminal's whole process group; the worker finishes its batch, with
    the same children, before it stops them."""
    script = textwrap.dedent(
        """
        import signal, sys
        from fte.embeddings import EmbeddingProcess
        signal.signal(signal.SIGINT, lambda *_: print("ctrl-c", flush=True))
        embedder = EmbeddingProcess(processes=2)
        print(*embedder.start(), flush=True)
        sys.stdin.readline()
        embedder.embed(["the batch in hand"])
        print(*embedder.start(), flush=True)
        embedder.close()
        """
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a terminal's process group of its own
    )
    assert worker.stdin is not None and worker.stdout is not None
    children = worker.stdout.readline().split()
    os.killpg(worker.pid, signal.SIGINT)
    assert worker.stdout.readline() == "ctrl-c\n"
    time.sleep(0.5)  # a child the signal reached has died by now
    worker.stdin.write("go on\n")
    worker.stdin.flush()

    # The same processes; which one reports first is up to them.
    assert sorted(worker.stdout.readline().split()) == sorted(children)
    assert worker.wait(30) == 0


def test_the_child_exits_when_its_worker_is_killed() -> None:
    script = textwrap.dedent(
        """
        import sys
        from fte.embeddings import EmbeddingProcess
        embedder = EmbeddingProcess()
        embedder.embed(["hello"])
        print(embedder.start()[0], flush=True)
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

    def gone() -> bool:
        return not child.is_running() or child.status() == psutil.STATUS_ZOMBIE

    eventually_blocking(gone, 10, "the embedding process gone with its worker")


def test_two_children_embed_batches_side_by_side(embedder: Embedder) -> None:
    """Both load the model at start (no batch waits for one to load), and calls from the
    worker's batches in flight each get their own texts' vectors back."""
    pool = EmbeddingProcess(processes=2)
    try:
        pids = pool.start()
        assert len(set(pids)) == 2
        assert {psutil.Process(pid).ppid() for pid in pids} == {os.getpid()}
        batches = [[f"{text} (batch {i})" for text in TEXTS] for i in range(8)]
        with ThreadPoolExecutor(4) as threads:
            vectors = list(threads.map(pool.embed, batches))
        for batch, got in zip(batches, vectors, strict=True):
            np.testing.assert_allclose(got, embedder.embed(batch), atol=1e-5)

        psutil.Process(pids[0]).kill()
        np.testing.assert_allclose(pool.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)
        assert len(set(pool.start()) - set(pids)) == 2  # both replaced
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("cores", "workers", "processes"), [(1, 1, 1), (2, 1, 2), (16, 1, 2), (2, 2, 1), (3, 2, 1)]
)
def test_by_default_one_process_per_core_for_the_workers_on_the_machine(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, processes: int
) -> None:
    """Up to two: a worker on the PostgreSQL queue has two batches in flight."""
    monkeypatch.setattr(embeddings, "available_cpus", lambda: cores)
    assert default_processes(workers) == processes
