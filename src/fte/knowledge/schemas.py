"""Knowledge-base shapes shared by the importer, the service and the agent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArticleDoc:
    """An article as read from a file, before it is stored: `source_key` identifies it."""

    source_key: str
    title: str
    body: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    added: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        """Articles read."""
        return self.added + self.updated + self.unchanged
