"""How a Chat Completions endpoint failed: retry it, count it against the breaker, name it."""

from __future__ import annotations

import email.utils
import time

import openai

from fte.kit.circuit_breaker import CircuitOpenError


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: timeouts, connection errors, 408, 429, 5xx."""
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError is one
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code in (408, 429) or exc.status_code >= 500
    )


def endpoint_failed(exc: BaseException) -> bool:
    """Counts against the breaker: the endpoint is down, overloaded or misconfigured. A 400
    is about one request, and proves the endpoint is up."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (401, 403, 404, 408, 429) or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, CircuitOpenError):
        return "breaker_open"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        if code == 429:
            return "rate_limited"
        if code == 408:
            return "timeout"
        if code >= 500:
            return "server_error"
        if code in (401, 403):
            return "auth_error"
        return "client_error"
    return "invalid_response"


def describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait a 429/503 asks for (`retry-after-ms`, `retry-after` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        if header == "retry-after":
            when = email.utils.parsedate_tz(value)
            if when is not None:
                return max(0.0, email.utils.mktime_tz(when) - time.time())
    return None
