"""Structured logs: one request id follows a web-form message from the API to its answer."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from fte.kit import logging as trace
from tests.fixtures.processes import start_api, start_worker
from tests.fixtures.waiting import eventually_blocking

JSON_LOGS = {"FTE_LOG_FORMAT": "json"}


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line must be a JSON object (nothing unstructured slips through)."""
    entries = []
    for line in output.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise AssertionError(f"not a JSON line: {line!r}") from exc
    return entries


def wait_for(proc: Any, predicate: Any, timeout: float = 90) -> list[dict[str, Any]]:
    def logged() -> list[dict[str, Any]] | None:
        entries = json_lines(proc.output())
        return entries if predicate(entries) else None

    try:
        return eventually_blocking(logged, timeout, "the expected log lines")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{proc.output()}") from None


def test_one_request_id_from_the_web_form_to_the_answer(kb_db_url: str) -> None:
    api, base = start_api(kb_db_url, JSON_LOGS)
    worker = start_worker(kb_db_url, JSON_LOGS)
    try:
        sent = httpx.post(
            base + "/support/submit",
            json={
                "name": "Ada",
                "email": "ada@example.com",
                "subject": "Password",
                "message": "I forgot my password. How can I reset it?",
            },
            headers={"X-Request-ID": "req-trace-42"},
            timeout=10,
        )
        assert sent.status_code == 201
        assert sent.headers["X-Request-ID"] == "req-trace-42"
        ticket_id = sent.json()["ticket_id"]

        generated = httpx.get(base + "/health", timeout=5).headers["X-Request-ID"]
        assert len(generated) == 32  # none sent: a fresh one

        mine = lambda e: e.get("request_id") == "req-trace-42"  # noqa: E731
        worker_lines = wait_for(worker, lambda es: any(mine(e) and e.get("message_id") for e in es))
        api_lines = json_lines(api.output())
    finally:
        worker.stop()
        api.stop()

    filed = [e for e in api_lines if mine(e) and "filed" in e["message"]]
    assert filed and filed[0]["ticket_id"] == ticket_id and filed[0]["role"] == "api"
    message_id = filed[0]["message_id"]
    answered = [e for e in worker_lines if mine(e) and e.get("message_id") == message_id]
    assert answered and answered[0]["ticket_id"] == ticket_id and answered[0]["role"] == "worker"
    assert "answer" in answered[0]["message"] and answered[0]["level"] == "info"
    # Another request's lines do not carry this id.
    assert not [e for e in api_lines if mine(e) and "GET /health" in e["message"]]


def test_text_lines_stay_readable_and_carry_the_ids() -> None:
    record = logging.LogRecord("fte.intake", logging.INFO, __file__, 1, "filed %s", ("x",), None)
    with trace.bound(request_id="r1", ticket_id="t1"):
        trace.trace_filter().filter(record)
    line = trace.formatter("text", "api").format(record)
    assert line.endswith("INFO    api    fte.intake: filed x [request=r1 ticket=t1]")
    assert trace.clean_request_id("bad\nid") != "bad\nid"
    assert trace.clean_request_id("x" * 200) != "x" * 200
