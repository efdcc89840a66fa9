"""`fte up`, the quick start: starts everything, stops everything, survives kill -9."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import Process, free_port
from tests.fixtures.waiting import eventually_blocking
from tests.ops.test_embedded_postgres import postgres_pids

pytestmark = pytest.mark.e2e


def fte_up(data_dir: Path, port: int) -> Process:
    proc = Process(
        ["up"],
        {
            "FTE_DATA_DIR": str(data_dir),
            "FTE_PORT": str(port),
            "DATABASE_URL": "",
            "FTE_SECRET_KEY": "",
        },
    )
    proc.wait_for_output("Customer Success FTE is running", timeout=180)
    return proc


def ask(base: str, message: str) -> dict:
    receipt = httpx.post(
        base + "/support/submit",
        timeout=10,
        json={"name": "Kim", "email": "kim@example.com", "subject": "Q", "message": message},
    ).json()

    def answered() -> dict | None:
        ticket = httpx.get(receipt["status_url"], timeout=10).json()
        return ticket if any(m["author"] == "support" for m in ticket["messages"]) else None

    return eventually_blocking(answered, 60, "a reply on the status page", every=0.3)


def test_fte_up_runs_stops_and_restarts_cleanly(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"

    first = fte_up(data, port)
    try:
        assert "Web form   http://127.0.0.1" in first.output()
        # One mode line, the supervisor's: the API child it starts does not print its own.
        assert [line for line in first.output().splitlines() if "Mode: " in line] == [
            "Mode: approval mode off | LLM none (local grounded responder) | "
            f"bus postgres (outbox queue) | {base}"
        ]
        health = httpx.get(base + "/health", timeout=5).json()
        assert health["database"] == "active" and health["channels"]["web_form"] == "active"
        ticket = ask(base, "How do I turn on two-factor authentication?")
        assert ticket["status"] == "pending"
        assert "Source:" in ticket["messages"][-1]["body"]
    finally:
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(60) == 0, first.output()
    assert "Stopped." in first.output()
    assert postgres_pids(data) == []

    second = fte_up(data, port)  # data kept, demo KB not loaded twice
    try:
        assert "Loading the demo knowledge base" in second.output()
        assert "nothing imported" in second.output()
    finally:
        os.kill(second.pid, signal.SIGKILL)  # a crash: no chance to clean up
        second.proc.wait()
    eventually_blocking(lambda: not postgres_pids(data), 20, "postgres gone with fte up")
    eventually_blocking(lambda: _port_free(port), 20, "the API gone with fte up")

    third = fte_up(data, port)
    try:
        later = ask(base, "Where do I find my invoices?")
        # The data survived the crash: numbering goes on after the first ticket (a fresh
        # database would start again at 1). After a crash PostgreSQL may skip up to 32
        # numbers (sequence values are logged in blocks), so only the order is certain.
        assert later["number"] > ticket["number"]
    finally:
        third.proc.send_signal(signal.SIGINT)
        assert third.proc.wait(60) == 0
    assert postgres_pids(data) == []


def _port_free(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.HTTPError:
        return True
    return False


def test_fte_up_with_the_embedded_kafka_broker(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Process(
        ["up", "--kafka", "embedded"],
        {
            "FTE_DATA_DIR": str(tmp_path / "data"),
            "FTE_PORT": str(port),
            "DATABASE_URL": "",
            "FTE_SECRET_KEY": "",
        },
    )
    try:
        proc.wait_for_output("Customer Success FTE is running", timeout=240)
        out = proc.output()
        broker = out.split("embedded Tansu at ")[1].split()[0]
        assert "worker-1" in out and "worker-2" in out
        assert f"| bus kafka at {broker} | {base}" in out
        health = httpx.get(base + "/health", timeout=5).json()
        assert health["queue"]["backend"] == "kafka" and health["queue"]["status"] == "ok"
        ticket = ask(base, "How do I turn on two-factor authentication?")
        assert "Source:" in ticket["messages"][-1]["body"]
    finally:
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(60) == 0, proc.output()
    assert "Embedded Kafka broker stopped." in proc.output()
    host, _, broker_port = broker.rpartition(":")
    with socket.socket() as s:
        assert s.connect_ex((host, int(broker_port))) != 0  # the broker is gone


def test_fte_up_restarts_a_killed_worker_while_the_api_keeps_serving(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    up = fte_up(tmp_path / "data", port)
    try:
        worker_pid = int(up.output().split("worker-1 (pid ")[1].split(")")[0])
        os.kill(worker_pid, signal.SIGKILL)
        answers: list[int] = []

        def restarted() -> bool:
            assert up.proc.poll() is None, up.output()  # fte up itself goes on
            answers.append(httpx.get(base + "/health", timeout=5).status_code)
            return "worker-1 restarted" in up.output()

        eventually_blocking(restarted, 60, "worker-1 restarted", every=0.1)
        assert answers and set(answers) == {200}  # the API answered throughout
        out = up.output()
        assert f"worker-1 (pid {worker_pid}) exited with code -9; restarting it in 1s" in out
        new_pid = int(out.split("worker-1 restarted (pid ")[1].split(")")[0])
        assert new_pid != worker_pid
        # The new worker does the work.
        ticket = ask(base, "How do I turn on two-factor authentication?")
        assert "Source:" in ticket["messages"][-1]["body"]
    finally:
        up.proc.send_signal(signal.SIGTERM)
        assert up.proc.wait(60) == 0, up.output()
    assert "Stopped." in up.output()
