"""The one line `fte up` and `fte serve` print at start: which mode is on, and where."""

from __future__ import annotations

from urllib.parse import urlsplit

from fte.config import Settings


def mode_line(settings: Settings, url: str) -> str:
    """Approval mode, who writes replies (an LLM or the local responder), the bus, the URL."""
    approval = "on (answers wait as drafts)" if settings.approval_mode else "off"
    if settings.llm_base_url:
        llm = f"LLM {settings.llm_model} at {_without_credentials(settings.llm_base_url)}"
    else:
        llm = "LLM none (local grounded responder)"
    if settings.bus == "kafka":
        bus = f"bus kafka at {settings.kafka_bootstrap_servers}"
    else:
        bus = "bus postgres (outbox queue)"
    return f"Mode: approval mode {approval} | {llm} | {bus} | {url}"


def _without_credentials(url: str) -> str:
    # A base URL may carry a user and password; the banner lands in terminals and logs.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}".rstrip("/")
