"""bench/burst.py in small: every phase runs and reports the figures the issue bounds (the
benchmark itself, with its numbers, is run by hand: timing is not a test)."""

from __future__ import annotations

import pytest
from bench.burst import parser, run

pytestmark = pytest.mark.e2e


async def test_the_burst_benchmark_reports_intake_idle_and_busy_and_the_answer_rates() -> None:
    args = parser().parse_args(
        ["--seconds", "2", "--rate", "20", "--window", "2", "--backlog", "150", "--warmup", "20"]
    )
    result = await run(args)
    for phase in ("intake_idle", "intake_busy"):
        figures = result[phase]
        assert figures["errors"] == 0
        assert figures["n"] == 40  # every submission was acknowledged
        assert figures["rps"] > 0 and 0 < figures["p50_ms"] <= figures["p99_ms"]
    # The worker answered in both windows, and still had work when the busy phase ended.
    assert result["answered_alone_mps"] > 0
    assert result["answered_during_busy_mps"] > 0
    assert result["backlog_left"] > 0
    assert set(result["ratios"]) == {
        "busy_p99_over_idle",
        "busy_rps_over_idle",
        "answered_busy_over_alone",
    }
