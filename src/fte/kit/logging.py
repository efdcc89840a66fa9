"""Process-wide logging: readable lines locally, JSON lines in production, and the ids that
follow one message from its webhook to its delivery.

The ids live in context variables: the API sets the request id per request (from
`X-Request-ID`, or a new one), intake adds the ticket and message ids, and the outbox row
carries the request id to the worker, which sets the same variables while it handles the job.
Every log line written meanwhile carries them, whatever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from fte.kit.redact import RedactFilter

LogFormat = Literal["text", "json"]

# The ids a log line can carry, in the order they are printed.
TRACE_FIELDS = ("request_id", "ticket_id", "message_id")
_trace: ContextVar[Mapping[str, str]] = ContextVar("fte_trace", default={})  # noqa: B039

# What a client may send as X-Request-ID: anything else is replaced by a fresh id.
_MAX_REQUEST_ID = 128


def new_request_id() -> str:
    """A fresh request id (32 hex characters)."""
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str:
    """The client's X-Request-ID when it is printable and short, else a new one."""
    if value and len(value) <= _MAX_REQUEST_ID and value.isascii() and value.isprintable():
        return value
    return new_request_id()


def current() -> dict[str, str]:
    """The ids bound in this context."""
    return dict(_trace.get())


def bind(**ids: object) -> None:
    """Add ids to this context (None values are ignored); they stay until the context ends."""
    values = {k: str(v) for k, v in ids.items() if v is not None and k in TRACE_FIELDS}
    if values:
        _trace.set({**_trace.get(), **values})


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Bind ids for the length of a block (a job in a worker), then restore the previous ones."""
    values = {k: str(v) for k, v in ids.items() if v is not None and k in TRACE_FIELDS}
    token = _trace.set({**_trace.get(), **values})
    try:
        yield
    finally:
        _trace.reset(token)


def carried() -> dict[str, str]:
    """What an outbox job takes along from this context: the request id."""
    request_id = _trace.get().get("request_id")
    return {"request_id": request_id} if request_id else {}


def from_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The request id an outbox payload carries (its other ids mean different things per
    topic: the caller binds those it knows)."""
    request_id = payload.get("request_id")
    return {"request_id": request_id} if request_id else {}


class _TraceFilter(logging.Filter):
    """Copies the context's ids onto every record (handlers, not loggers: all loggers pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _trace.get()
        for name in TRACE_FIELDS:
            setattr(record, name, ids.get(name))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, role, logger, message, the ids, the error."""

    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "role": self.role,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in TRACE_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_text:  # the redaction filter leaves the masked traceback here
            entry["error"] = record.exc_text
        elif record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level role logger: message [request=… ticket=… message=…]`."""

    def __init__(self, role: str):
        super().__init__(
            fmt=f"%(asctime)s %(levelname)-7s {role:<6} %(name)s: %(message)s", datefmt="%H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [
            f"{name.removesuffix('_id')}={value}"
            for name in TRACE_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        if not ids:
            return line
        head, sep, tail = line.partition("\n")  # keep the ids on the message line
        return f"{head} [{' '.join(ids)}]{sep}{tail}"


def formatter(log_format: LogFormat, role: str) -> logging.Formatter:
    """The formatter for FTE_LOG_FORMAT."""
    return JsonFormatter(role) if log_format == "json" else TextFormatter(role)


def configure(level: str, role: str, log_format: LogFormat = "text") -> None:
    """Log to stderr, readable (`text`) or as JSON lines (`json`), with the trace ids."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format, role))
    handler.addFilter(_TraceFilter())
    # Personal data (emails, phones, card numbers) never reaches a log line, whoever logged it.
    handler.addFilter(RedactFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("sentence_transformers", "transformers", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def trace_filter() -> logging.Filter:
    """The filter that copies the ids onto records (for handlers set up elsewhere, e.g. tests)."""
    return _TraceFilter()
