"""`fte up`: the whole system on one machine — database, migrations, demo KB, API, worker.

Children are started with a parent-death signal, so nothing outlives the supervisor, and a lock
file keeps two supervisors off the same data directory. A child that exits after start-up is
started again with a capped backoff, the others serving meanwhile; only a signal stops all.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.markup import escape

from fte.bus import kafka
from fte.config import Settings
from fte.embeddings import default_processes
from fte.kit import backoff
from fte.ops import migrations
from fte.ops.banner import mode_line
from fte.ops.embedded_postgres import EmbeddedPostgres
from fte.ops.embedded_tansu import EmbeddedTansu, EmbeddedTansuError

console = Console(stderr=True)

# A crashed child is started again after 1 s, doubling up to this; a child that ran this long
# before it crashed starts from 1 s again.
RESTART_CAP_SECONDS = 30.0
RESTART_RESET_SECONDS = 60.0


class SupervisorError(RuntimeError):
    """Start-up could not complete; the message says what to do."""


def _child_setup() -> None:
    if platform.system() == "Linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()  # Ctrl-C goes to the supervisor, which stops children in order


@dataclass
class Supervisor:
    settings: Settings
    workers: int = 1
    kafka: str | None = None  # "embedded": a Tansu broker for a local distributed setup
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    tansu: EmbeddedTansu | None = None
    _lock: IO[str] | None = None
    _stopping: bool = False
    _commands: dict[str, list[str]] = field(default_factory=dict)
    _env: dict[str, str] = field(default_factory=dict)

    def run(self) -> int:
        """Start everything, wait for a signal or a child's death, stop everything."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            url = self._start()
            self._banner(url)
            return self._wait()
        except SupervisorError as exc:
            console.print(f"[red]fte up: {exc}[/red]")
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            self._stop()

    def _on_signal(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            self._stopping = True
            console.print(f"\n[yellow]{signal.Signals(signum).name}: stopping…[/yellow]")
            raise KeyboardInterrupt

    def _start(self) -> str:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock(s.data_dir / "fte.lock")
        _check_port_free(s.host, s.port)
        if s.database_url:
            url = s.database_url
            console.print("Database: external (DATABASE_URL)")
        else:
            console.print(f"Starting embedded PostgreSQL in {s.data_dir / 'pgdata'} …")
            self.postgres = EmbeddedPostgres(s.data_dir, s.embedded_pg_port)
            url = self.postgres.start()
        console.print("Applying migrations …")
        migrations.upgrade(url)
        env = {**os.environ, "DATABASE_URL": url, "FTE_SECRET_KEY": s.resolved_secret_key()}
        if self.kafka == "embedded":
            env.update(self._start_kafka())
        if s.embedding_processes is None:
            # The workers share this machine's cores: torch in one process per core.
            env["FTE_EMBEDDING_PROCESSES"] = str(default_processes(self.workers))
        if s.load_demo_kb:
            self._load_demo_kb(env)
        self._spawn("api", ["serve", "--no-banner"], env)
        for i in range(self.workers):
            self._spawn(f"worker-{i + 1}", ["worker"], env)
        self._wait_healthy()
        return url

    def _start_kafka(self) -> dict[str, str]:
        """Start the embedded broker and create the topics; the workers' Kafka settings."""
        console.print("Starting the embedded Kafka broker (Tansu) …")
        self.tansu = EmbeddedTansu(log_path=self.settings.data_dir / "tansu.log")
        try:
            servers = self.tansu.start()
        except EmbeddedTansuError as exc:
            raise SupervisorError(f"the embedded Kafka broker did not start: {exc}") from exc
        env = {
            "FTE_BUS": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": servers,
            # Tansu's in-memory engine rejects aiokafka's InitProducerId request.
            "FTE_KAFKA_IDEMPOTENCE": "false",
        }
        settings = self.settings.model_copy(
            update={"bus": "kafka", "kafka_bootstrap_servers": servers}
        )
        try:
            asyncio.run(kafka.create_topics(settings))
        except kafka.KafkaUnavailable as exc:
            raise SupervisorError(str(exc)) from exc
        return env

    def _take_lock(self, path: Path) -> None:
        self._lock = path.open("a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SupervisorError(
                f"another `fte up` is already running on {self.settings.data_dir}"
            ) from exc
        self._lock.truncate(0)
        self._lock.write(str(os.getpid()))
        self._lock.flush()

    def _load_demo_kb(self, env: dict[str, str]) -> None:
        console.print("Loading the demo knowledge base (first start only) …")
        result = subprocess.run(
            [sys.executable, "-m", "fte", "kb", "import", "--if-empty"],
            env=env,
            check=False,
            preexec_fn=_child_setup,
        )
        if result.returncode != 0:
            raise SupervisorError("loading the demo knowledge base failed (see above)")

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self._commands[name], self._env = args, env
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "fte", *args],
            env=env,
            preexec_fn=_child_setup,
        )

    def _wait_healthy(self, timeout: float = 90.0) -> None:
        url = f"http://{self.settings.host}:{self.settings.port}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_children()
            # A 503 (database not ready yet) raises HTTPError, an OSError: keep waiting.
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.3)
        raise SupervisorError(f"the API did not become healthy at {url} within {timeout:.0f}s")

    def _check_children(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise SupervisorError(f"{name} exited with code {child.returncode}")

    def _banner(self, url: str) -> None:
        s = self.settings
        where = "embedded, data in " + str(s.data_dir / "pgdata") if self.postgres else "external"
        safe_url = url.split("@")[-1]
        # The children run on the bus `fte up` gave them, which may not be the configured one.
        running = s
        if self.tansu:
            update = {"bus": "kafka", "kafka_bootstrap_servers": self.tansu.bootstrap_servers}
            running = s.model_copy(update=update)
        console.print(
            "\n[bold green]Customer Success FTE is running[/bold green]\n"
            f"  Web form   {s.base_url}/support\n"
            f"  Health     {s.base_url}/health\n"
            f"  API docs   {s.base_url}/docs\n"
            f"  Database   {where} ({safe_url})\n"
            + (
                f"  Kafka      embedded Tansu at {self.tansu.bootstrap_servers}\n"
                if self.tansu
                else ""
            )
            + f"  Processes  api (pid {self.children['api'].pid}), "
            + ", ".join(f"{n} (pid {c.pid})" for n, c in self.children.items() if n != "api")
            + f"\n{escape(mode_line(running, s.base_url))}"
            + "\nPress Ctrl-C to stop.\n",
            soft_wrap=True,  # the mode line stays one line in a narrow terminal
        )

    def _wait(self) -> int:
        """Watch the children until a signal: one that exits is started again after a backoff
        (1 s doubling to 30 s; reset once it has run for a minute), the others go on serving."""
        restarts: dict[str, int] = dict.fromkeys(self.children, 0)
        started = dict.fromkeys(self.children, time.monotonic())
        due: dict[str, float] = {}  # child → when to start it again
        while True:
            now = time.monotonic()
            for name, child in list(self.children.items()):
                if name in due:
                    if now >= due[name]:
                        del due[name]
                        self._spawn(name, self._commands[name], self._env)
                        started[name] = now
                        console.print(
                            f"[yellow]fte up: {name} restarted (pid {self.pid(name)})[/yellow]"
                        )
                    continue
                code = child.poll()
                if code is None:
                    if now - started[name] > RESTART_RESET_SECONDS:
                        restarts[name] = 0
                    continue
                restarts[name] += 1
                wait = backoff.ceiling(restarts[name], 1.0, RESTART_CAP_SECONDS)
                console.print(
                    f"[red]fte up: {name} (pid {child.pid}) exited with code {code}; "
                    f"restarting it in {wait:.0f}s (restart {restarts[name]})[/red]"
                )
                due[name] = now + wait
            time.sleep(0.5)

    def pid(self, name: str) -> int:
        """The process id of a child."""
        return self.children[name].pid

    def _stop(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 20
        for name, child in self.children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]{name} did not stop in time; killing it[/yellow]")
                child.kill()
                child.wait()
        if self.tansu is not None:
            self.tansu.stop()
            console.print("Embedded Kafka broker stopped.")
        if self.postgres is not None:
            self.postgres.stop()
            console.print("Embedded PostgreSQL stopped.")
        if self._lock is not None:
            self._lock.close()
        console.print("Stopped.")


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SupervisorError(
                f"port {port} on {host} is in use; stop what uses it or set FTE_PORT"
            ) from exc
