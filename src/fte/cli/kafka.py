"""`fte kafka ...`: the topics of the Kafka bus."""

from __future__ import annotations

import asyncio

import typer

from fte.bus import kafka
from fte.cli.context import console
from fte.config import get_settings

app = typer.Typer(help="Kafka topics (FTE_BUS=kafka).", no_args_is_help=True)


@app.command("create-topics")
def create_topics(
    partitions: int | None = typer.Option(
        None, min=1, max=1000, help="Partitions per topic (default FTE_KAFKA_PARTITIONS)."
    ),
) -> None:
    """Create the inbound, outbound and dead-letter topics that do not exist yet."""
    settings = get_settings()
    try:
        created = asyncio.run(kafka.create_topics(settings, partitions))
    except kafka.KafkaUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    for name in kafka.Topics.from_settings(settings).all():
        state = "created" if name in created else "exists"
        console.print(f"{name}: {state}")


@app.command()
def check() -> None:
    """Say which topics this deployment needs are missing (exit 1 when any is)."""
    settings = get_settings()
    try:
        missing = asyncio.run(kafka.missing_topics(settings))
    except kafka.KafkaUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if missing:
        console.print(
            f"[red]Missing Kafka topics: {', '.join(missing)}.[/red] "
            "Create them with `fte kafka create-topics`."
        )
        raise typer.Exit(1)
    console.print("[green]All topics exist.[/green]")
