"""Read a knowledge base from disk.

- Markdown/text files: one article each, title from the first heading. An optional front
  matter block (`---` lines around `escalate: refund`) marks an escalation topic.
- JSON Lines: rows with `id`, `title`, `body` (optional `escalate`) are articles; rows with
  `id`, `text`, `article` are past questions answered by that article (history.jsonl).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fte.errors import FteError
from fte.knowledge.escalation import topic_reason
from fte.knowledge.schemas import ArticleDoc, ExampleDoc, KbSources
from fte.tickets.reasons import TOPIC_REASONS

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


class ImportSourceError(FteError):
    """A file to import is missing or malformed; the message names the file and line."""


def _escalation(value: Any, title: str, where: str) -> str | None:
    """An explicit `escalate` value wins ("none"/false: never); else the title decides."""
    if value is None:
        return topic_reason(title)
    if value is False or str(value).strip().lower() in ("", "none", "no", "false"):
        return None
    reason = str(value).strip()
    if reason not in TOPIC_REASONS:
        raise ImportSourceError(
            f"{where}: escalate must be one of {', '.join(TOPIC_REASONS)} or none, not {reason!r}"
        )
    return reason


def read_text_article(path: Path, root: Path) -> ArticleDoc:
    """Title from the first heading (else the first line, else the file name)."""
    text = path.read_text(encoding="utf-8").strip()
    meta: dict[str, str] = {}
    front = _FRONT_MATTER.match(text + "\n")
    if front:
        for line in front.group(1).splitlines():
            key, _, value = line.partition(":")
            meta[key.strip().lower()] = value.strip()
        text = text[front.end() :].strip()
    title = None
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _HEADING.match(line)
        title = match.group(1) if match else line.strip()[:200]
        break
    if not title:
        title = path.stem.replace("-", " ").replace("_", " ").capitalize()
    key = path.relative_to(root).as_posix() if path != root else path.name
    return ArticleDoc(
        source_key=f"file:{key}",
        title=title,
        body=text,
        escalation_reason=_escalation(meta.get("escalate"), title, str(path)),
    )


def read_jsonl(path: Path, into: KbSources) -> None:
    """Articles and examples from a JSON Lines file."""
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
                if "title" in row and "body" in row:
                    title = str(row["title"]).strip()
                    into.articles.append(
                        ArticleDoc(
                            source_key=f"id:{row['id']}",
                            title=title,
                            body=str(row["body"]).strip(),
                            escalation_reason=_escalation(row.get("escalate"), title, where),
                        )
                    )
                elif "text" in row and "article" in row:
                    if row["article"] is None:
                        continue  # a past question nothing in the KB answered
                    into.examples.append(
                        ExampleDoc(
                            source_key=f"history:{row['id']}",
                            text=str(row["text"]).strip(),
                            article_key=f"id:{row['article']}",
                        )
                    )
                else:
                    raise KeyError("title and body, or text and article")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise ImportSourceError(
                    f"{where}: expected an article (id, title, body) or a past question "
                    f"(id, text, article) ({exc})"
                ) from exc


def read_sources(path: Path) -> KbSources:
    """Everything under `path`: a folder of files, one text file, or a .jsonl file."""
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    found = KbSources()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if path.is_file() and path.suffix not in TEXT_SUFFIXES | {".jsonl"}:
        raise ImportSourceError(f"{path}: expected .md, .markdown, .txt or .jsonl")
    root = path.parent if path.is_file() else path
    for file in files:
        if file.suffix in TEXT_SUFFIXES:
            doc = read_text_article(file, root)
            if doc.body:
                found.articles.append(doc)
        elif file.suffix == ".jsonl" and not _is_evaluation_split(file, path):
            read_jsonl(file, found)
    if not found.articles and not found.examples:
        raise ImportSourceError(f"{path}: no .md, .txt or .jsonl articles found")
    return found


def _is_evaluation_split(file: Path, root: Path) -> bool:
    # A data-set folder holds kb.jsonl and history.jsonl beside query files (dev.jsonl...):
    # importing the folder takes the knowledge base, never the questions being evaluated.
    return file != root and file.name not in ("kb.jsonl", "history.jsonl")


def read_articles(path: Path) -> list[ArticleDoc]:
    """Only the articles under `path`."""
    return read_sources(path).articles


DEMO_KB = Path(__file__).parent / "demo_kb"
