"""`fte serve` says at start which mode is on: approval mode, the LLM or local, the bus, the URL."""

from __future__ import annotations

import json

from tests.fixtures.processes import Process, free_port


def serve(db_url: str, **env: str) -> tuple[Process, int]:
    port = free_port()
    proc = Process(
        ["serve"],
        {"DATABASE_URL": db_url, "FTE_PORT": str(port), "FTE_SECRET_KEY": "test-secret", **env},
    )
    return proc, port


def mode_lines(proc: Process) -> list[str]:
    proc.wait_for_output("Mode: ", timeout=60)
    return [line for line in proc.output().splitlines() if "Mode: " in line]


def test_the_defaults_announce_local_replies_on_the_postgres_queue(db_url: str) -> None:
    proc, port = serve(db_url, FTE_APPROVAL_MODE="false", FTE_BUS="postgres")
    try:
        assert mode_lines(proc) == [
            "Mode: approval mode off | LLM none (local grounded responder) | "
            f"bus postgres (outbox queue) | http://127.0.0.1:{port}"
        ]
    finally:
        proc.stop()


def test_approval_mode_an_llm_and_kafka_are_named_without_the_llm_credentials(
    db_url: str,
) -> None:
    proc, port = serve(
        db_url,
        FTE_APPROVAL_MODE="true",
        FTE_LLM_BASE_URL="https://ops:hunter2@llm.example.com:8443/openai/v1/",
        FTE_LLM_API_KEY="sk-secret-key",
        FTE_LLM_MODEL="llama-3.1-8b",
        FTE_BUS="kafka",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        FTE_PUBLIC_URL="https://support.example.com",
    )
    try:
        (line,) = mode_lines(proc)
        assert line == (
            "Mode: approval mode on (answers wait as drafts) | "
            "LLM llama-3.1-8b at https://llm.example.com:8443/openai/v1 | "
            f"bus kafka at 127.0.0.1:1 | http://127.0.0.1:{port} "
            "(public https://support.example.com)"
        )
        assert "hunter2" not in proc.output() and "sk-secret-key" not in proc.output()
    finally:
        proc.stop()


def test_with_json_logs_the_mode_is_a_json_line(db_url: str) -> None:
    proc, _ = serve(db_url, FTE_LOG_FORMAT="json")
    try:
        (line,) = mode_lines(proc)
        entry = json.loads(line)
        assert entry["message"].startswith("Mode: approval mode off | LLM none")
    finally:
        proc.stop()
