"""Knowledge-base shapes shared by the importer, the service and the agent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ArticleDoc:
    """An article as read from a file, before it is stored: `source_key` identifies it."""

    source_key: str
    title: str
    body: str
    # Questions that match this article go to a human with this reason (None: answer them).
    escalation_reason: str | None = None


@dataclass(frozen=True)
class ExampleDoc:
    """A past question known to be answered by an article (e.g. a row of history.jsonl)."""

    source_key: str
    text: str
    article_key: str  # the article's source_key


@dataclass
class KbSources:
    """Everything read from an import path."""

    articles: list[ArticleDoc] = field(default_factory=list)
    examples: list[ExampleDoc] = field(default_factory=list)


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    added: int
    updated: int
    unchanged: int
    examples_added: int = 0
    examples_skipped: int = 0

    @property
    def total(self) -> int:
        """Articles read."""
        return self.added + self.updated + self.unchanged
