"""Process-wide logging: one readable line per event, with the process role in it."""

from __future__ import annotations

import logging


def configure(level: str, role: str) -> None:
    """Log to stderr as `time level role logger: message`."""
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)-7s {role:<6} %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    for noisy in ("sentence_transformers", "transformers", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
