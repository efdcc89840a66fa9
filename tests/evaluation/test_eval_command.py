"""`fte eval` end to end: a small data set in the shared format, the real worker, a scratch
database that is gone afterwards."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
from typer.testing import CliRunner

from fte.cli.main import app
from fte.ops.embedded_postgres import EmbeddedPostgres

KB = [
    {
        "id": "reset_password",
        "title": "Reset your password",
        "body": "Open the sign-in page, choose 'Forgot password' and follow the emailed link.",
    },
    {
        "id": "pause_sync",
        "title": "Pause syncing",
        "body": "Click the tray icon and choose Pause syncing. Resume it the same way.",
    },
    {
        "id": "team_folders",
        "title": "Create a team folder",
        "body": "Admins create team folders from the Admin console under Folders.",
    },
    {
        "id": "get_refund",
        "title": "Get refund",
        "body": "Refunds are reviewed by our billing team.",
        "escalate": "refund",
    },
]
HISTORY = [
    {"id": "h1", "text": "how do I stop the sync for a while", "article": "pause_sync"},
    {"id": "h2", "text": "I can't remember my login password", "article": "reset_password"},
]
DEV = [
    {"id": "q1", "text": "I forgot my password, how do I reset it?", "channel": "email",
     "article": "reset_password", "escalate": False, "sentiment": "neutral"},
    {"id": "q2", "text": "how can I pause the sync temporarily?", "channel": "whatsapp",
     "article": "pause_sync", "escalate": False},
    {"id": "q3", "text": "how does an admin make a folder for the whole team?",
     "channel": "web_form", "article": "team_folders", "escalate": False,
     "sentiment": "neutral"},
    {"id": "q4", "text": "I want a refund for last month, please", "channel": "email",
     "article": "get_refund", "escalate": True, "reason": "get_refund"},
    {"id": "q5", "text": "let me talk to a real person right now", "channel": "web_form",
     "article": None, "escalate": True, "reason": "contact_human_agent",
     "sentiment": "negative"},
    {"id": "q6", "text": "what is the boiling point of mercury in kelvin", "channel": "web_form",
     "article": None, "escalate": True, "reason": "out_of_scope"},
]  # fmt: skip


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


async def _databases(server: EmbeddedPostgres) -> set[str]:
    conn = await asyncpg.connect(server.url())
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def test_eval_scores_the_worker_s_runs_in_a_scratch_database(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    _write(tmp_path / "kb.jsonl", KB)
    _write(tmp_path / "history.jsonl", HISTORY)
    _write(tmp_path / "dev.jsonl", DEV)
    before = asyncio.run(_databases(postgres))

    result = CliRunner().invoke(
        app,
        [
            "eval", str(tmp_path), "--split", "dev", "--json", "--calibrate",
            "--database-url", postgres.url(),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["n"] == len(DEV)
    assert figures["retrieval_top1"] == 1.0 and figures["mrr10"] == 1.0
    assert figures["action_accuracy"] == 1.0
    assert figures["escalation_precision"] == 1.0 and figures["escalation_recall"] == 1.0
    assert {
        reason: (row["precision"], row["recall"], row["support"])
        for reason, row in figures["per_reason"].items()
    } == {
        "human_requested": (1.0, 1.0, 1),
        "low_confidence": (1.0, 1.0, 1),
        "refund": (1.0, 1.0, 1),
    }
    # Sentiment is scored on the three labelled rows only.
    assert figures["sentiment_accuracy"] is not None and figures["negative_recall"] == 1.0
    assert 0 < figures["p50_ms"] <= figures["p95_ms"]
    assert figures["baseline"]["retrieval_top1"] is not None
    assert [row["threshold"] for row in figures["calibration"]][:2] == [0.3, 0.325]
    # The scratch database is gone; nothing else on the server was touched.
    assert asyncio.run(_databases(postgres)) == before


def test_a_missing_split_exits_2_naming_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "kb.jsonl", KB)
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--split", "test"])
    assert result.exit_code == 2
    assert "test.jsonl" in "".join(result.output.split())


def test_errors_holdout_and_a_markdown_kb_show_what_the_figures_hide(
    postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "reset-password.md").write_text(
        "# Reset your password\n\nIf you forgot it, see the steps below.\n\n"
        "## Reset a forgotten password\n\n1. Open the sign-in page.\n2. Click Forgot password.\n\n"
        "## The reset email doesn't arrive\n\nCheck your spam folder and wait a few minutes.\n",
        encoding="utf-8",
    )
    (kb / "pause-sync.md").write_text(
        "# Pause syncing\n\nClick the tray icon and choose Pause syncing.\n", encoding="utf-8"
    )
    data = tmp_path / "set"
    data.mkdir()
    _write(
        data / "dev.jsonl",
        [
            {"id": "a", "text": "the password reset email never arrived", "escalate": False,
             "article": "reset-password", "section": "The reset email doesn't arrive"},
            # Labelled wrong on purpose: a miss the figures count and --errors must show.
            {"id": "b", "text": "how do I pause syncing for a while?", "escalate": False,
             "article": "reset-password"},
        ],
    )  # fmt: skip

    result = CliRunner().invoke(
        app,
        [
            "eval", str(data), "--kb", str(kb), "--json", "--errors", "3", "--holdout", "0.5",
            "--database-url", postgres.url(),
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    (miss,) = figures["errors"]["answer"]
    assert miss["id"] == "b" and miss["expected"] == "answer with reset-password"
    assert miss["got"] == "answer with pause-sync"
    assert miss["sources"][0]["article"] == "pause-sync" and 0 < miss["sources"][0]["score"] <= 1
    # The Markdown files are the knowledge base, named by file.
    assert figures["retrieval_top1"] == 0.5
    parts = figures["parts"]
    assert parts["fraction"] == 0.5
    assert sum(p["n"] for p in (parts["tune"], parts["holdout"]) if p) == 2
    # The answered row got the section about the missing email, not the whole article.
    assert figures["focus"] == {
        "labelled": 1, "right_facts": 1.0, "focused": 1.0,
        "median_length_ratio": figures["focus"]["median_length_ratio"],
    }  # fmt: skip
