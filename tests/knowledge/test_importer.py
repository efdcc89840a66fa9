import json
from pathlib import Path

import pytest

from fte.knowledge.importer import DEMO_KB, ImportSourceError, read_articles
from fte.knowledge.service import chunk_article


def test_markdown_title_comes_from_first_heading(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("\n# Resetting your password\n\nGo to Settings.\n")
    (tmp_path / "b.txt").write_text("Plain first line\nrest")
    docs = {d.source_key: d for d in read_articles(tmp_path)}
    assert docs["file:a.md"].title == "Resetting your password"
    assert docs["file:b.txt"].title == "Plain first line"


def test_jsonl_rows_are_articles(tmp_path: Path) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_text(
        json.dumps({"id": "k1", "title": "T1", "body": "B1"})
        + "\n\n"
        + json.dumps({"id": 7, "title": "T2", "body": "B2"})
        + "\n"
    )
    docs = read_articles(path)
    assert [(d.source_key, d.title, d.body) for d in docs] == [
        ("id:k1", "T1", "B1"),
        ("id:7", "T2", "B2"),
    ]


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps({"id": 1, "title": "ok", "body": "x"}) + "\n{not json\n")
    with pytest.raises(ImportSourceError, match=r"kb.jsonl:2"):
        read_articles(path)


def test_missing_path_and_empty_folder_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportSourceError, match="no such file"):
        read_articles(tmp_path / "nope")
    with pytest.raises(ImportSourceError, match=r"no \.md"):
        read_articles(tmp_path)


def test_demo_kb_is_a_real_knowledge_base() -> None:
    docs = read_articles(DEMO_KB)
    assert 25 <= len(docs) <= 40
    assert len({d.title for d in docs}) == len(docs)
    assert all(len(d.body.split()) >= 80 for d in docs)
    assert not any("{{" in d.body for d in docs)


def test_chunks_carry_the_title_and_respect_the_size() -> None:
    body = "# Title\n\n" + "\n\n".join("sentence " * 30 for _ in range(8))
    title, *chunks = chunk_article("Title", body, max_chars=600)
    assert title == "Title"  # the title alone: what paraphrased questions match best
    assert len(chunks) > 1
    assert all(c.startswith("Title\n\n") for c in chunks)
    assert all(len(c) <= 600 + len("Title\n\n") + 300 for c in chunks)


def test_escalation_topics_from_titles_front_matter_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "refunds.md").write_text("# Get refund\n\nWe review every request.")
    (tmp_path / "plans.md").write_text("---\nescalate: pricing\n---\n# Plans\n\nThree plans.")
    (tmp_path / "policy.md").write_text("---\nescalate: none\n---\n# Refund policy\n\n30 days.")
    (tmp_path / "kb.jsonl").write_text(
        json.dumps({"id": "h", "title": "Talk to a human", "body": "Call us.", "escalate": None})
        + "\n"
        + json.dumps({"id": "x", "title": "X", "body": "Y", "escalate": "legal_language"})
        + "\n"
    )
    reasons = {d.source_key: d.escalation_reason for d in read_articles(tmp_path)}
    assert reasons == {
        "file:refunds.md": "refund",
        "file:plans.md": "pricing",
        "file:policy.md": None,
        "id:h": "human_requested",
        "id:x": "legal_language",
    }


def test_an_unknown_escalation_reason_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kb.jsonl").write_text(
        json.dumps({"id": 1, "title": "T", "body": "B", "escalate": "bored"}) + "\n"
    )
    with pytest.raises(ImportSourceError, match=r"kb.jsonl:1: escalate must be one of"):
        read_articles(tmp_path)


def test_history_rows_become_examples_and_query_splits_are_ignored(tmp_path: Path) -> None:
    from fte.knowledge.importer import read_sources

    (tmp_path / "kb.jsonl").write_text(json.dumps({"id": "a", "title": "A", "body": "B"}) + "\n")
    (tmp_path / "history.jsonl").write_text(
        json.dumps({"id": "h1", "text": "how do I a?", "article": "a"})
        + "\n"
        + json.dumps({"id": "h2", "text": "unanswerable", "article": None})
        + "\n"
    )
    (tmp_path / "dev.jsonl").write_text(json.dumps({"id": "d", "text": "q", "article": "a"}))
    sources = read_sources(tmp_path)
    assert [a.source_key for a in sources.articles] == ["id:a"]
    assert [(e.source_key, e.text, e.article_key) for e in sources.examples] == [
        ("history:h1", "how do I a?", "id:a")
    ]
