"""The console's Jinja2 templates (autoescaped: customer text is shown, never run)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi.templating import Jinja2Templates


def duration(seconds: float | Decimal | None) -> str:
    """A span as people read it in a queue: 12 s, 42 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return "—"
    if float(seconds) < 60:  # the agent answers in seconds: "0 min" would hide it
        return f"{max(0, int(float(seconds)))} s"
    minutes = int(float(seconds) // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 1440:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} d {minutes % 1440 // 60} h"


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["duration"] = duration
