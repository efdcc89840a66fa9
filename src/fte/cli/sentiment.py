"""`fte sentiment ...`: message sentiment."""

from __future__ import annotations

import asyncio
import json
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from fte.agent import sentiment_repository
from fte.agent.sentiment import LABELS
from fte.agent.sentiment_training import (
    LabelledMessage,
    TrainingDataError,
    TrainingOutcome,
    read_labelled,
    train,
)
from fte.cli.context import console, database_url
from fte.config import get_settings
from fte.db import create_pool, transaction
from fte.embeddings import get_embedder
from fte.ops import migrations

app = typer.Typer(help="Message sentiment.", no_args_is_help=True)


async def _train(
    url: str, rows: list[LabelledMessage], holdout: float, seed: int, quiet: bool
) -> tuple[int, TrainingOutcome]:
    settings = get_settings()
    status = nullcontext() if quiet else console.status("Embedding and fitting…")
    with status:
        embedder = await asyncio.to_thread(get_embedder, settings.embedding_device)
        vectors = np.asarray(
            await asyncio.to_thread(embedder.embed, [r.text for r in rows]), dtype=np.float64
        )
        outcome = await asyncio.to_thread(
            train, rows, vectors, embedder, holdout=holdout, seed=seed
        )
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        async with transaction(pool) as conn:
            model_id = await sentiment_repository.save_model(
                conn,
                kind=outcome.kind,
                params=outcome.params,
                metrics=outcome.metrics,
                trained_on=outcome.trained_on,
            )
    finally:
        await pool.close()
    return model_id, outcome


def _table(held: dict[str, Any]) -> Table:
    table = Table(title=f"Held-out {held['rows']} messages")
    table.add_column("")
    for name in ("precision", "recall", "F1", "messages"):
        table.add_column(name, justify="right")
    for label in LABELS:
        m = held["per_label"][label]
        table.add_row(
            label,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            str(m["support"]),
        )
    table.add_section()
    table.add_row("accuracy", "", "", f"{held['accuracy']:.3f}", "")
    table.add_row("macro-F1", "", "", f"{held['macro_f1']:.3f}", "")
    return table


@app.command("train")
def train_(
    path: Path = typer.Argument(..., help="JSON Lines with `text` and `sentiment` per row."),
    holdout: float = typer.Option(
        0.2,
        "--holdout",
        min=0.0,
        max=0.5,
        help="Share of rows held out (seeded) to measure the fit; 0 skips it. The stored "
        "model is then fitted on every row.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Fit a classifier on your labelled messages; workers use the newest one from then on."""
    try:
        rows = read_labelled(path)
    except TrainingDataError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    with database_url(get_settings()) as url:
        migrations.upgrade(url)
        try:
            model_id, outcome = asyncio.run(_train(url, rows, holdout, seed, as_json))
        except TrainingDataError as exc:
            console.print(f"[red]{path}: {exc.message}[/red]")
            raise typer.Exit(2) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "model_id": model_id,
                    "kind": outcome.kind,
                    "trained_on": outcome.trained_on,
                    "vocabulary": len(outcome.params["vocabulary"]),
                    "holdout": outcome.holdout,
                }
            )
        )
        return
    if outcome.holdout is not None:
        console.print(_table(outcome.holdout))
    console.print(
        f"[green]Model {model_id} stored[/green]: trained on {outcome.trained_on} messages "
        f"({len(outcome.params['vocabulary'])} words); workers use the newest model."
    )
