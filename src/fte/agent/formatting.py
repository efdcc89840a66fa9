"""Text helpers the channel adapters use to dress a reply: plain text from Markdown, greetings,
splitting. Each channel's own format is its adapter's `format_reply`."""

from __future__ import annotations

import re

_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_BLANKS = re.compile(r"\n{3,}")


def markdown_to_text(markdown: str) -> str:
    """Readable plain text: headings, emphasis and code marks removed; links as 'text (url)'."""
    text = _HEADING.sub("", markdown)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _EMPHASIS.sub(lambda m: m.group(2), text)
    text = re.sub(r"^\s*[*+]\s+", "- ", text, flags=re.MULTILINE)
    return _BLANKS.sub("\n\n", text).strip()


def strip_title(markdown: str, title: str) -> str:
    """The article body without its own leading '# Title' line (the reply names it anyway)."""
    lines = markdown.lstrip().splitlines()
    if lines and _HEADING.match(lines[0]) and _HEADING.sub("", lines[0]).strip() == title.strip():
        return "\n".join(lines[1:]).strip()
    return markdown.strip()


def first_name(full_name: str | None) -> str | None:
    """The name to greet someone by, or None when we have nothing sensible."""
    if not full_name:
        return None
    name = full_name.strip().split()[0] if full_name.strip() else ""
    return name if name and any(ch.isalpha() for ch in name) else None


def greeting(full_name: str | None) -> str:
    """'Hi Ada,' or 'Hi there,'."""
    return f"Hi {first_name(full_name) or 'there'},"


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, then line, then word boundaries so no part exceeds `limit` chars."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for piece in re.split(r"(\n\n|\n| )", text):
        if len(current) + len(piece) <= limit:
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        while len(piece) > limit:  # a single word longer than the limit
            parts.append(piece[:limit])
            piece = piece[limit:]
        current = piece if piece.strip() else ""
    if current.strip():
        parts.append(current.strip())
    return parts
