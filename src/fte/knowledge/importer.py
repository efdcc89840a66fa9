"""Read articles from disk: Markdown/text files (one article each) or a kb.jsonl file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from fte.errors import FteError
from fte.knowledge.schemas import ArticleDoc

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")


class ImportSourceError(FteError):
    """A file to import is missing or malformed; the message names the file and line."""


def read_text_article(path: Path, root: Path) -> ArticleDoc:
    """Title from the first heading (else the first line, else the file name)."""
    text = path.read_text(encoding="utf-8").strip()
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
    return ArticleDoc(source_key=f"file:{key}", title=title, body=text)


def read_jsonl(path: Path) -> Iterator[ArticleDoc]:
    """Rows of {"id", "title", "body"}, one article a line."""
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                yield ArticleDoc(
                    source_key=f"id:{row['id']}",
                    title=str(row["title"]).strip(),
                    body=str(row["body"]).strip(),
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ImportSourceError(
                    f"{path}:{lineno}: expected a JSON object with id, title and body ({exc})"
                ) from exc


def read_articles(path: Path) -> list[ArticleDoc]:
    """Every article under `path`: a folder of text files, one text file, or a .jsonl file."""
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix == ".jsonl":
            return list(read_jsonl(path))
        if path.suffix in TEXT_SUFFIXES:
            return [read_text_article(path, path.parent)]
        raise ImportSourceError(f"{path}: expected .md, .markdown, .txt or .jsonl")
    docs: list[ArticleDoc] = []
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix in TEXT_SUFFIXES:
            docs.append(read_text_article(file, path))
        elif file.is_file() and file.suffix == ".jsonl":
            docs.extend(read_jsonl(file))
    docs = [d for d in docs if d.body]
    if not docs:
        raise ImportSourceError(f"{path}: no .md, .txt or .jsonl articles found")
    return docs


DEMO_KB = Path(__file__).parent / "demo_kb"
