"""The `fte` command."""

from __future__ import annotations

import logging

import typer
import uvicorn

from fte.cli import channels, config, customer_data, customers, db, dlq, kafka, kb, sentiment, users
from fte.cli.context import console, database_url
from fte.cli.doctor import doctor
from fte.cli.eval import eval_command
from fte.config import get_settings
from fte.kit.http_server import server_options
from fte.kit.logging import configure

app = typer.Typer(
    help="Customer Success FTE: an AI customer-success employee you run yourself.",
    no_args_is_help=True,
)
app.add_typer(channels.app, name="channel")
app.add_typer(config.app, name="config")
app.add_typer(customers.app, name="customer")
app.add_typer(customer_data.app, name="customers")
app.add_typer(db.app, name="db")
app.add_typer(dlq.app, name="dlq")
app.add_typer(kb.app, name="kb")
app.add_typer(kafka.app, name="kafka")
app.add_typer(sentiment.app, name="sentiment")
app.add_typer(users.users, name="user")
app.add_typer(users.apikeys, name="apikey")
app.command("eval")(eval_command)
app.command("doctor")(doctor)


@app.command()
def up(
    workers: int | None = typer.Option(
        None, min=1, max=16, help="Worker processes to start (default 1; 2 with --kafka)."
    ),
    kafka: str | None = typer.Option(
        None,
        "--kafka",
        help="`embedded`: run the bus on a local Tansu Kafka broker (stopped on exit).",
    ),
) -> None:
    """Start everything on this machine: database, API + web form, worker. Ctrl-C stops it."""
    from fte.ops.supervisor import Supervisor

    if kafka not in (None, "embedded"):
        console.print("[red]--kafka takes `embedded` (for a cluster, set FTE_BUS=kafka).[/red]")
        raise typer.Exit(2)
    settings = get_settings()
    configure(settings.log_level, "up", settings.log_format)
    count = workers or (2 if kafka else 1)
    raise typer.Exit(Supervisor(settings, workers=count, kafka=kafka).run())


@app.command()
def serve(
    workers: int | None = typer.Option(
        None, min=1, max=64, help="API processes (default FTE_API_WORKERS, 1); one per core."
    ),
    banner: bool = typer.Option(
        True, "--banner/--no-banner", hidden=True, help="`fte up` prints its own."
    ),
) -> None:
    """Serve the API and the web form."""
    from fte.ops.banner import mode_line

    settings = get_settings()
    workers = workers or settings.api_workers
    configure(settings.log_level, "api", settings.log_format)
    with database_url(settings) as url:
        import os

        os.environ["DATABASE_URL"] = url
        get_settings.cache_clear()  # the app reads the URL from the settings
        if workers > 1:
            # Several processes count requests: they share their counts through files, so
            # whichever process Prometheus reaches reports the totals (ops/scrape.py).
            from fte.kit.metrics import MULTIPROC_ENV
            from fte.ops.scrape import prepare_multiprocess_dir

            folder = settings.metrics_multiproc_dir or settings.data_dir / "metrics"
            os.environ[MULTIPROC_ENV] = str(prepare_multiprocess_dir(folder.resolve()))
        if banner:
            listening = f"http://{settings.host}:{settings.port}"
            if settings.public_url:
                listening += f" (public {settings.base_url})"
            if settings.log_format == "json":
                # Every line of a JSON log must stay JSON (collectors drop the rest).
                logging.getLogger("fte.serve").info(mode_line(settings, listening))
            else:
                console.print(mode_line(settings, listening), soft_wrap=True, markup=False)
        uvicorn.run(
            "fte.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,  # our handler (text or JSON) formats uvicorn's lines too
            timeout_graceful_shutdown=10,
            **server_options(settings),
        )


@app.command()
def worker() -> None:
    """Run a worker: claims inbound messages and answers or escalates them."""
    import uvloop

    from fte.kit.tasks import BackgroundTaskDied
    from fte.worker.process import MissingTopics, run_worker

    settings = get_settings()
    configure(settings.log_level, "worker", settings.log_format)
    with database_url(settings) as url:
        try:
            # uvloop, as the API runs under uvicorn: a worker's time goes to database round
            # trips, and its event loop costs a fraction of asyncio's own per round trip.
            uvloop.run(run_worker(settings, url))
        except (MissingTopics, BackgroundTaskDied) as exc:
            console.print(f"[red]fte worker: {exc}[/red]")
            raise typer.Exit(1) from exc


if __name__ == "__main__":
    app()
