"""The embedded server: data kept between starts, nothing left running, no manual clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from fte.ops.embedded_postgres import EmbeddedPostgres


def postgres_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir.resolve()) in cmdline:
            pids.append(proc.pid)
    return pids


def wait_until(predicate, timeout: float = 15) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def psql(server: EmbeddedPostgres, sql: str) -> str:
    from fte.ops.embedded_postgres import _bin_dir

    return subprocess.run(
        [str(_bin_dir() / "psql"), server.url(), "-tAc", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_data_survives_a_restart(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    psql(server, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    assert psql(server, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    server.stop()
    assert postgres_pids(tmp_path) == []
    server.start()
    try:
        assert psql(server, "SELECT x FROM kept") == "42"
    finally:
        server.stop()


def test_a_killed_parent_takes_its_server_with_it_and_the_next_start_is_clean(
    tmp_path: Path,
) -> None:
    script = (
        "import sys, time; from pathlib import Path;"
        "from fte.ops.embedded_postgres import EmbeddedPostgres;"
        "EmbeddedPostgres(Path(sys.argv[1])).start(); print('up', flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None and parent.stdout.readline().strip() == "up"
    assert postgres_pids(tmp_path)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    assert wait_until(lambda: not postgres_pids(tmp_path)), "postgres outlived its parent"

    server = EmbeddedPostgres(tmp_path)
    server.start()
    server.stop()


def test_a_server_left_running_is_stopped_before_starting_again(tmp_path: Path) -> None:
    orphan = EmbeddedPostgres(tmp_path)
    orphan.start()
    orphan.process = None  # forget it, as a crashed supervisor would
    try:
        server = EmbeddedPostgres(tmp_path)
        server.start()
        assert psql(server, "SELECT 1") == "1"
        assert (
            len([p for p in postgres_pids(tmp_path) if psutil.Process(p).ppid() == os.getpid()])
            == 1
        )
        server.stop()
        assert wait_until(lambda: not postgres_pids(tmp_path))
    finally:
        for pid in postgres_pids(tmp_path):
            os.kill(pid, signal.SIGKILL)


def test_a_stale_pid_file_does_not_block_the_start(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    server.stop()
    pidfile = tmp_path / "pgdata" / "postmaster.pid"
    # The pid of a live process that is not postgres (ours), as after a reboot with pid reuse.
    pidfile.write_text(f"{os.getpid()}\n{tmp_path}\n0\n5432\n\n127.0.0.1\n0 0\nready\n")
    server.start()
    try:
        assert psql(server, "SELECT 1") == "1"
    finally:
        server.stop()
