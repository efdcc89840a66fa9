"""How many cores this process may use."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores in this process's CPU affinity, capped by a cgroup v2 CPU quota (a container's
    CPU limit: `cpu.max` holds "200000 100000" for two cores, "max 100000" for none); at least 1.
    os.cpu_count() counts the whole machine, which in a container is often far more."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, math.ceil(int(quota) / int(period)))
    return max(1, cpus)
