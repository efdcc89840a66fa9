"""The embedded server: data kept between starts, nothing left running, no manual clean-up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import psutil
import pytest

from fte.ops.embedded_postgres import EmbeddedPostgres, _free_port
from tests.fixtures.waiting import eventually_blocking


def postgres_pids(data_dir: Path) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir.resolve()) in cmdline:
            pids.append(proc.pid)
    return pids


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
    eventually_blocking(lambda: not postgres_pids(tmp_path), 15, "postgres gone with its parent")

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
        eventually_blocking(lambda: not postgres_pids(tmp_path), 15, "postgres stopped")
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


def _no_password_url(server: EmbeddedPostgres, database: str = "postgres") -> str:
    # What another local user can build from `ps`: the port, the superuser's name, no password.
    return f"postgresql://postgres@127.0.0.1:{server.port}/{database}"


async def _refused(url: str) -> BaseException:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError) as refused:
        conn = await asyncpg.connect(url, timeout=10)
        await conn.close()
    return refused.value


async def test_another_local_user_without_the_password_is_refused(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    try:
        await _refused(_no_password_url(server))
        await _refused(_no_password_url(server).replace("postgres@", "postgres:guess@"))
        conn = await asyncpg.connect(server.url("postgres"))
        try:
            assert await conn.fetchval("SELECT current_user") == "postgres"
            methods = await conn.fetch("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
        finally:
            await conn.close()
        assert {r["auth_method"] for r in methods} == {"scram-sha-256"}
    finally:
        server.stop()
    secret = tmp_path / "postgres_password"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == 0o700
    assert secret.read_text().strip() in server.url()


async def _old_trusting_cluster(data_dir: Path) -> None:
    """What earlier versions made: initdb --auth=trust, a table written by anyone."""
    old = EmbeddedPostgres(data_dir)
    old._prepare_os_user()
    old._run("initdb", "-D", str(old.pgdata), "-U", "postgres", "--auth=trust", "--no-sync")
    old.port = _free_port()
    old._spawn()
    old._wait_ready(60)
    try:
        conn = await asyncpg.connect(_no_password_url(old))  # anyone could, then
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        await conn.close()
    finally:
        old.stop()


async def test_a_cluster_made_by_the_old_trusting_version_is_secured_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    await _old_trusting_cluster(tmp_path)

    server = EmbeddedPostgres(tmp_path)
    server.start()
    try:
        await _refused(_no_password_url(server))
        conn = await asyncpg.connect(server.url("postgres"))
        try:
            assert await conn.fetchval("SELECT x FROM kept") == 42
        finally:
            await conn.close()
    finally:
        server.stop()
    assert "trust" not in (tmp_path / "pgdata" / "pg_hba.conf").read_text()
    assert stat.S_IMODE((tmp_path / "postgres_password").stat().st_mode) == 0o600

    again = EmbeddedPostgres(tmp_path)  # the next start uses the kept password as it is
    again.start()
    try:
        conn = await asyncpg.connect(again.url("postgres"))
        assert await conn.fetchval("SELECT x FROM kept") == 42
        await conn.close()
    finally:
        again.stop()


async def test_a_password_the_operator_wrote_is_set_and_used_as_it_is(tmp_path: Path) -> None:
    await _old_trusting_cluster(tmp_path)
    chosen = "p@ss'w:rd/1%"  # quotes and URL delimiters
    secret = tmp_path / "postgres_password"
    secret.write_text(chosen + "\n")
    server = EmbeddedPostgres(tmp_path)
    server.start()
    try:
        conn = await asyncpg.connect(server.url("postgres"))
        assert await conn.fetchval("SELECT x FROM kept") == 42
        await conn.close()
        conn = await asyncpg.connect(
            host="127.0.0.1", port=server.port, user="postgres", password=chosen,
            database="postgres",
        )  # fmt: skip
        await conn.close()  # the password as written works too, as psql users type it
    finally:
        server.stop()
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
