"""The README and docs/ stay true: links resolve, the quick start is two commands, and the
README's configuration table agrees with the Settings class."""

from __future__ import annotations

import re
from pathlib import Path

from fte.cli.config import render

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lowercased, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    in_code = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []


def test_nothing_points_into_the_readme() -> None:
    # The README is a front page; references go to docs/, whose sections stay put.
    sources = [
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("src/fte/**/*.py"),
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("bench/*.py"),
        *ROOT.glob("deploy/**/*.yaml"),
    ]
    pointing = [
        str(p.relative_to(ROOT))
        for p in sources
        if p != Path(__file__) and "README" in p.read_text()
    ]
    assert pointing == []


def test_the_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", quick_start, re.S)
    commands = [b.strip() for b in blocks if not b.startswith("Customer Success FTE")]
    assert commands == ["make run", "make test"]
    assert readme.index("## Quick start") < readme.index("## Documentation")


def test_the_readme_configuration_table_has_the_settings_defaults() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Most used configuration", 1)[1].split("\n## ", 1)[0]
    reference = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", render(), re.M)
    }
    rows = re.findall(r"^\| (`\w+`(?: / `\w+`)*) \| ([^|]+) \|", table, re.M)
    assert len(rows) >= 8
    for names, defaults in rows:
        names_list = re.findall(r"`(\w+)`", names)
        default_list = [d.strip() for d in defaults.split(" / ")]
        for name, default in zip(names_list, default_list, strict=True):
            assert reference[name].strip() == default, name
