"""`fte eval DIR --split dev`: run the agent over a labelled data set and score it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fte.cli.context import console
from fte.config import get_settings
from fte.embeddings import get_embedder
from fte.errors import FteError
from fte.evaluation.baseline import nearest_neighbour
from fte.evaluation.dataset import read_split
from fte.evaluation.review import (
    focus_figures,
    handover_figures,
    holdout_figures,
    worst_misses,
)
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
    kb_path: Path = typer.Option(
        None,
        "--kb",
        help="Take the knowledge base from this file or folder (e.g. a folder of .md articles) "
        "instead of DIR's kb.jsonl and history.jsonl.",
    ),
    errors: int = typer.Option(
        0, "--errors", min=0, help="Print the N worst misses per expected outcome."
    ),
    holdout: float = typer.Option(
        0.0,
        "--holdout",
        min=0,
        max=0.9,
        help="Also score a stable part of the split (this fraction, by row id) apart from the "
        "rest, so a gain tuned on the rest shows whether it holds.",
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        min=0,
        help="Which stable part --holdout takes (0: the one the published figures use); "
        "another seed holds out other rows, to see whether a gain holds on them too.",
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
        if kb_path is not None:
            kb = read_sources(kb_path)
        else:
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

        info: dict[str, Any] = {}
        records = asyncio.run(evaluate(kb, rows, settings, embedder, progress, database_url, info))
    figures: dict[str, Any] = {
        "dataset": directory.name,
        "split": split,
        **score_records(records),
        "threshold": settings.answer_threshold,
        "calibrated_threshold": info.get("answer_threshold"),
        "baseline": nearest_neighbour(kb, rows, embedder),
    }
    if do_calibrate:
        figures["calibration"] = calibrate(
            records,
            CALIBRATION_GRID,
            settings.negative_sentiment_threshold,
            info.get("history_bar", 0.0),
        )
    if holdout:
        figures["parts"] = {
            "fraction": holdout,
            "seed": seed,
            **holdout_figures(records, holdout, seed),
        }
    focus = focus_figures(records, kb)
    if focus is not None:
        figures["focus"] = focus
    handovers = handover_figures(records)
    if handovers is not None:
        figures["handovers"] = handovers
    if errors:
        figures["errors"] = worst_misses(records, errors)
    if as_json:
        typer.echo(json.dumps(figures))
        return
    _print(figures)
    _print_extras(figures)


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
        "calibrated_threshold",
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


_PART_FIGURES = (
    "n",
    "retrieval_top1",
    "action_accuracy",
    "escalation_precision",
    "escalation_recall",
)


def _print_extras(figures: dict[str, Any]) -> None:
    if "parts" in figures:
        seed = figures["parts"].get("seed") or 0
        parts = Table(
            title=f"tuned-on part vs held-out part ({figures['parts']['fraction']}"
            + (f", seed {seed})" if seed else ")")
        )
        parts.add_column("figure")
        parts.add_column("tune", justify="right")
        parts.add_column("holdout", justify="right")
        tune, held = figures["parts"]["tune"] or {}, figures["parts"]["holdout"] or {}
        for key in _PART_FIGURES:
            parts.add_row(key, _fmt(tune.get(key)), _fmt(held.get(key)))
        for reason in sorted(set(tune.get("per_reason", {})) | set(held.get("per_reason", {}))):
            parts.add_row(
                f"{reason} recall",
                _fmt(tune.get("per_reason", {}).get(reason, {}).get("recall")),
                _fmt(held.get("per_reason", {}).get(reason, {}).get("recall")),
            )
        console.print(parts)
    for key, title in (
        ("focus", "replies against the answering section"),
        ("handovers", "messages that must reach a person"),
    ):
        if key in figures:
            extra = Table(title=title)
            extra.add_column("figure")
            extra.add_column("value", justify="right")
            for name, value in figures[key].items():
                extra.add_row(name, _fmt(value))
            console.print(extra)
    for reason, misses in figures.get("errors", {}).items():
        console.rule(f"worst misses: expected {reason}")
        for miss in misses:
            console.print(f"{miss['id']} {miss['text']!r}", markup=False)
            console.print(f"  expected {miss['expected']}; got {miss['got']}", markup=False)
            for src in miss["sources"]:
                console.print(
                    f"    {src['score']:.3f}  {src['article']}  {src['title']}", markup=False
                )
