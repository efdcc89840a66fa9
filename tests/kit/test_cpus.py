"""The cores a worker sizes its embedding processes by: a container's CPU limit, not the
machine's core count."""

from __future__ import annotations

import os
from pathlib import Path

from fte.kit.cpus import available_cpus

AFFINITY = len(os.sched_getaffinity(0))


def _cpu_max(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(text)
    return path


def test_a_cpu_limit_caps_the_cores(tmp_path: Path) -> None:
    assert available_cpus(_cpu_max(tmp_path, "100000 100000\n")) == 1
    # A fraction of a core rounds up: half a core still runs one process.
    assert available_cpus(_cpu_max(tmp_path, "50000 100000\n")) == 1
    assert available_cpus(_cpu_max(tmp_path, "100000000 100000\n")) == AFFINITY


def test_no_limit_or_no_cgroup_counts_the_cores_we_may_run_on(tmp_path: Path) -> None:
    assert available_cpus(_cpu_max(tmp_path, "max 100000\n")) == AFFINITY
    assert available_cpus(tmp_path / "missing") == AFFINITY
    assert available_cpus(_cpu_max(tmp_path, "garbage\n")) == AFFINITY
