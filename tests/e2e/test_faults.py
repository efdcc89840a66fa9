"""bench/faults.py in small: a real `fte up` per bus takes steady web-form load through one
fault, and every acknowledged submission is filed once, run once, answered at most once, and
none is lost. The benchmark runs all the faults with more load; this keeps them repeatable in
the suite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from bench.faults import (
    Fault,
    Sent,
    Stack,
    drain,
    inject,
    kill_worker,
    load,
    stop_broker,
    summarise,
)

pytestmark = pytest.mark.e2e

RATE, SECONDS = 4.0, 15.0
# Longer than a publish waits (FTE_KAFKA_PUBLISH_TIMEOUT_SECONDS, 5 s): the relay sees failures.
BROKER_DOWN = 10.0
# A killed worker's claimed messages wait out their lease (FTE_WORKER_LEASE_SECONDS, 60 s by
# default) before another worker takes them: recovery is bounded by it, so keep it short here.
LEASE = 20


async def _under_load(bus: str, tmp_path: Path, fault_name: str) -> dict[str, object]:
    stack = Stack(bus, tmp_path)
    stack.env["FTE_LOAD_DEMO_KB"] = "false"  # no KB: every message handed over, quicker start
    stack.env["FTE_WORKER_LEASE_SECONDS"] = str(LEASE)
    try:
        await asyncio.to_thread(stack.start)
        sent: list[Sent] = []
        faults: list[Fault] = []
        async with aiohttp.ClientSession(
            base_url=stack.base, timeout=aiohttp.ClientTimeout(total=10)
        ) as http:
            loading = asyncio.create_task(load(http, bus, RATE, SECONDS, sent))
            await asyncio.sleep(SECONDS * 0.3)
            fault = Fault(fault_name)
            if fault_name == "worker_kill":
                await inject(stack, faults, fault, kill_worker(stack, fault))
            else:
                await inject(stack, faults, fault, stop_broker(stack, fault, BROKER_DOWN))
            await loading
        rows = await drain(stack, [s.ticket_id for s in sent if s.ticket_id], 120)
        report = summarise(sent, rows, faults)
        report["fte_up_exits"] = stack.exits
        return report
    finally:
        await asyncio.to_thread(stack.stop)


def _assert_nothing_lost_or_doubled(report: dict[str, object], fault: str) -> None:
    assert report["acknowledged"] == report["submitted"], report
    assert report["lost"] == 0, report
    assert report["filed_twice"] == report["runs_twice"] == report["replies_twice"] == 0, report
    assert report["ok"] == report["acknowledged"], report
    faults = report["faults"]
    assert isinstance(faults, dict)
    assert "error" not in faults[fault], report
    recovery = faults[fault]["recovery_seconds"]
    # The lease, a poll and the restarted worker's start (it loads the embedding model).
    assert recovery is not None and recovery < LEASE + 40, report


async def test_a_worker_killed_under_load_on_the_postgres_queue(tmp_path: Path) -> None:
    report = await _under_load("postgres", tmp_path, "worker_kill")
    _assert_nothing_lost_or_doubled(report, "worker_kill")


async def test_the_broker_stopped_under_load_on_kafka(tmp_path: Path) -> None:
    report = await _under_load("kafka", tmp_path, "broker_stop")
    _assert_nothing_lost_or_doubled(report, "broker_stop")
    assert report["fte_up_exits"] == [], report  # the broker's absence stops nothing
