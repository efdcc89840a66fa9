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
    """Create the inbound, outbound and dead-letter topics that do not exist yet; exit 1 when
    one that exists has fewer partitions than wanted."""
    settings = get_settings()
    if partitions is not None:
        settings = settings.model_copy(update={"kafka_partitions": partitions})
    try:
        created = asyncio.run(kafka.create_topics(settings))
        probe = asyncio.run(kafka.probe_topics(settings))
    except kafka.KafkaUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    for name in kafka.Topics.from_settings(settings).all():
        state = "created" if name in created else "exists"
        if name in probe.short:
            state += f" [red]with {probe.short[name]} partitions, not {probe.wanted}[/red]"
        console.print(f"{name}: {state}")
    _verdict(probe)


@app.command()
def check() -> None:
    """Say which topics this deployment needs are missing or have fewer partitions than
    FTE_KAFKA_PARTITIONS (exit 1 when any is)."""
    try:
        probe = asyncio.run(kafka.probe_topics(get_settings()))
    except kafka.KafkaUnavailable as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    _verdict(probe)
    console.print(f"[green]All topics exist with at least {probe.wanted} partitions.[/green]")


def _verdict(probe: kafka.TopicProbe) -> None:
    if not probe.ok:
        console.print(f"[red]Kafka topics: {probe.problems()}.[/red] Fix: {probe.fix()}.")
        raise typer.Exit(1)
