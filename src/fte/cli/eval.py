"""`fte eval DIR --split dev`: run the agent over a labelled data set and score it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fte.agent.embeddings import get_embedder
from fte.cli.context import console
from fte.config import get_settings
from fte.errors import FteError
from fte.evaluation.baseline import nearest_neighbour
from fte.evaluation.dataset import read_split
from fte.evaluation.runner import calibrate, evaluate, score_records
from fte.knowledge.importer import read_sources
from fte.knowledge.schemas import KbSources

CALIBRATION_GRID = [round(0.30 + 0.025 * i, 3) for i in range(13)]  # 0.30 .. 0.60


def eval_command(
    directory: Path = typer.Argument(
        ..., help="A data-set folder: kb.jsonl, history.jsonl, SPLIT.jsonl."
    ),
    split: str = typer.Option("dev", "--split", help="Reads SPLIT.jsonl from DIR."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N rows (0: all)."),
    threshold: float = typer.Option(
        None, "--threshold", min=0, max=1, help="Answer threshold (default FTE_ANSWER_THRESHOLD)."
    ),
    do_calibrate: bool = typer.Option(
        False, "--calibrate", help="Also report the figures across answer thresholds."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        help="A PostgreSQL server to create a scratch database on (default: a temporary "
        "embedded server). Production data is never touched either way.",
    ),
) -> None:
    """Run the agent exactly as the worker does over DIR/SPLIT.jsonl and print its figures."""
    settings = get_settings()
    if threshold is not None:
        settings = settings.model_copy(update={"answer_threshold": threshold})
    try:
        rows = read_split(directory, split)[: limit or None]
        has_kb = (directory / "kb.jsonl").exists() or (directory / "history.jsonl").exists()
        kb = read_sources(directory) if has_kb else KbSources()
    except FteError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from exc
    embedder = get_embedder(settings.embedding_device)
    with Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done)

        records = asyncio.run(evaluate(kb, rows, settings, embedder, progress, database_url))
    figures: dict[str, Any] = {
        "dataset": directory.name,
        "split": split,
        **score_records(records),
        "threshold": settings.answer_threshold,
        "baseline": nearest_neighbour(kb, rows, embedder),
    }
    if do_calibrate:
        figures["calibration"] = calibrate(records, CALIBRATION_GRID)
    if as_json:
        typer.echo(json.dumps(figures))
        return
    _print(figures)


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _print(figures: dict[str, Any]) -> None:
    table = Table(title=f"{figures['dataset']} / {figures['split']} ({figures['n']} messages)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "retrieval_top1",
        "mrr10",
        "action_accuracy",
        "escalation_precision",
        "escalation_recall",
        "sentiment_accuracy",
        "sentiment_macro_f1",
        "negative_recall",
        "p50_ms",
        "p95_ms",
        "threshold",
    ):
        table.add_row(key, _fmt(figures[key]))
    table.add_section()
    for key in ("retrieval_top1", "mrr10"):
        table.add_row(f"baseline {key} (plain nearest neighbour)", _fmt(figures["baseline"][key]))
    console.print(table)
    if figures["per_reason"]:
        reasons = Table(title="escalations by reason")
        for column in ("reason", "precision", "recall", "support"):
            reasons.add_column(column, justify="left" if column == "reason" else "right")
        for reason, row in figures["per_reason"].items():
            reasons.add_row(
                reason, _fmt(row["precision"]), _fmt(row["recall"]), str(row["support"])
            )
        console.print(reasons)
    if "calibration" in figures:
        cal = Table(title="calibration: answer threshold")
        for column in (
            "threshold",
            "action_accuracy",
            "escalation_precision",
            "escalation_recall",
            "low_confidence_recall",
        ):
            cal.add_column(column, justify="right")
        for row in figures["calibration"]:
            cal.add_row(
                *(
                    _fmt(row[c])
                    for c in (
                        "threshold",
                        "action_accuracy",
                        "escalation_precision",
                        "escalation_recall",
                        "low_confidence_recall",
                    )
                )
            )
        console.print(cal)
