"""Sentiment: what a support team notices: complaints flagged, thanks seen, questions left
alone, and a team's own trained model taking over once stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from fte.agent import sentiment_repository
from fte.agent.sentiment import (
    LABELS,
    SentimentAnalyzer,
    SentimentResult,
    default_analyzer,
    load_analyzer,
    terms,
    ticket_trend,
)
from fte.agent.sentiment_training import LabelledMessage, read_labelled, train
from fte.cli import sentiment as sentiment_cli
from fte.embeddings import Embedder

COMPLAINTS = [
    "I have been waiting three weeks for my refund and nobody replies. This is a disgrace.",
    "Your app deleted all my photos after the update. I'm furious.",
    "Charged again after I cancelled?! Fix this now.",
    "Fourth email about the same broken invoice. Does anyone read these?",
]
THANKS = [
    "Thank you so much, the fix worked and everything syncs again!",
    "Brilliant support today, Maria sorted it in five minutes. Thanks!",
    "Really happy with the new dashboard, great work.",
]
QUESTIONS = [
    "How do I add a second admin to our workspace?",
    "Can I change the email address on my account?",
    "Do you offer an annual plan for teams?",
]


@pytest.fixture(scope="module")
def analyzer(embedder: Embedder) -> SentimentAnalyzer:
    return default_analyzer(embedder)


def test_default_flags_complaints_sees_thanks_and_leaves_questions_neutral(
    analyzer: SentimentAnalyzer,
) -> None:
    results = analyzer.analyze(COMPLAINTS + THANKS + QUESTIONS)
    labels = [r.label for r in results]
    assert labels == ["negative"] * 4 + ["positive"] * 3 + ["neutral"] * 3
    # The score's sign agrees with the label, and complaints score below thanks.
    assert all(r.score < 0 for r in results[:4])
    assert all(r.score > 0 for r in results[4:7])
    assert all(-1.0 <= r.score <= 1.0 for r in results)
    assert analyzer.name == "default-v1"


# Support text that is not anger: a how-to question and problems described calmly.
CALM_SUPPORT = [
    "How do I reset my password?",
    "My files are not syncing since yesterday, what should I do?",
    "The app keeps logging me out on my phone, any idea why?",
    "I have problems with the cancellation of my Premium account",
]


def test_calm_support_text_is_not_scored_as_anger(analyzer: SentimentAnalyzer) -> None:
    results = analyzer.analyze(CALM_SUPPORT)
    # The hand-over threshold (FTE_NEGATIVE_SENTIMENT_THRESHOLD) is -0.9; these stay well above.
    assert all(r.score > -0.7 for r in results), results
    assert [r.label for r in results[:3]] == ["neutral"] * 3, results
    # Anger in the same words is still seen as anger.
    angry = analyzer.analyze(["My files STILL aren't syncing, third time I write, useless!"])
    assert angry[0].label == "negative" and angry[0].score < results[1].score


def test_the_trained_vocabulary_sees_word_pairs_not_links_or_handles() -> None:
    assert terms("@united NOT good, on hold again!! https://t.co/x") == [
        "not", "good", "on", "hold", "again", "!", "!",
        "not good", "good on", "on hold", "hold again", "again !", "! !",
    ]  # fmt: skip


def test_given_vectors_give_the_same_results(
    analyzer: SentimentAnalyzer, embedder: Embedder
) -> None:
    texts = COMPLAINTS[:2] + THANKS[:1]
    assert analyzer.analyze(texts, vectors=embedder.embed(texts)) == analyzer.analyze(texts)
    assert analyzer.analyze([]) == []


@pytest.mark.parametrize(
    ("labels", "trend"),
    [
        ([], "steady"),
        (["negative"], "steady"),
        (["negative", "negative", "neutral"], "improving"),
        (["negative", "positive"], "improving"),
        (["positive", "neutral", "negative"], "worsening"),
        (["neutral", "neutral"], "steady"),
        (["negative", "neutral", "neutral", "neutral", "neutral"], "steady"),
    ],
)
def test_ticket_trend(labels: list[str], trend: str) -> None:
    assert ticket_trend(labels) == trend


def _team_data() -> list[LabelledMessage]:
    """A team whose customers write about a file-sync product, a dozen messages per label."""
    negative = [
        "sync stopped again and support never answered",
        "lost a whole folder, this is unacceptable",
        "third outage this week, seriously",
        "you billed me twice and ignore my emails",
        "the desktop client crashes every morning",
        "still broken after your so-called fix",
        "worst update ever, nothing loads",
        "i want a refund, this product is useless",
        "waited four days for a reply, terrible",
        "files disappeared and nobody can explain why",
        "the share links are broken again",
        "cancelling, too many problems",
    ]
    neutral = [
        "how do i share a folder with a contractor",
        "where can i download last month's invoice",
        "does the mobile app support offline files",
        "what is the storage limit on the team plan",
        "can i move my account to another email",
        "is there a linux client",
        "how do i turn on two-factor authentication",
        "please send the receipt to accounts at our company",
        "when does the price change take effect",
        "can admins see deleted files",
        "which regions store our data",
        "my ticket number is 4412",
    ]
    positive = [
        "thanks, that fixed it",
        "great support, really quick",
        "love the new sharing screen",
        "works perfectly now, thank you",
        "you saved my presentation, thanks a lot",
        "excellent service as always",
        "very happy with the upgrade",
        "thank you for the fast answer",
        "brilliant, all synced again",
        "the new version is fantastic",
        "appreciate the help today",
        "awesome, problem solved",
    ]
    return [
        LabelledMessage(text, label)
        for label, texts in zip(LABELS, (negative, neutral, positive), strict=True)
        for text in texts
    ]


async def test_trained_model_round_trips_through_the_database(
    pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with pool.acquire() as conn:
        assert (await load_analyzer(conn, embedder)).name == "default-v1"

    rows = _team_data()
    vectors = embedder.embed([r.text for r in rows]).astype(np.float64)
    outcome = train(rows, vectors, embedder, holdout=0.25, seed=1)
    assert outcome.holdout is not None and outcome.holdout["rows"] == 9
    async with pool.acquire() as conn:
        model_id = await sentiment_repository.save_model(
            conn,
            kind=outcome.kind,
            params=outcome.params,
            metrics=outcome.metrics,
            trained_on=outcome.trained_on,
        )
        loaded = await load_analyzer(conn, embedder)
        stored = await sentiment_repository.latest_model(conn)

    assert loaded.name == f"trained:{model_id}"
    assert stored is not None and stored.trained_on == len(rows)
    assert stored.metrics["holdout"]["rows"] == 9
    # The team's own messages come back with the team's own labels.
    assert [r.label for r in loaded.analyze([r.text for r in rows], vectors)] == [
        r.label for r in rows
    ]
    unseen = loaded.analyze(["the client crashed again and lost my files", "thanks, all good"])
    assert [r.label for r in unseen] == ["negative", "positive"]
    assert isinstance(unseen[0], SentimentResult) and unseen[0].score < 0 < unseen[1].score


async def test_an_unreadable_model_falls_back_to_the_default(
    pool: asyncpg.Pool, embedder: Embedder
) -> None:
    async with pool.acquire() as conn:
        await sentiment_repository.save_model(
            conn, kind="from-the-future", params={}, metrics={}, trained_on=1
        )
        assert (await load_analyzer(conn, embedder)).name == "default-v1"


def _fte() -> typer.Typer:
    """`fte` with the sentiment commands mounted, as cli/main.py does."""
    root = typer.Typer()
    root.add_typer(sentiment_cli.app, name="sentiment")
    return root


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_train_stores_the_model_workers_load(
    db_url: str, embedder: Embedder, tmp_path: Path
) -> None:
    rows = [{"text": m.text, "sentiment": m.label} for m in _team_data()]
    data = _write(tmp_path / "labelled.jsonl", rows)
    result = CliRunner().invoke(
        _fte(),
        ["sentiment", "train", str(data), "--holdout", "0.25", "--json"],
        env={"DATABASE_URL": db_url},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["trained_on"] == len(rows)
    assert report["holdout"]["rows"] == 9
    assert set(report["holdout"]["per_label"]) == set(LABELS)

    async def newest() -> str:  # the CLI ran its own event loop; so does this check
        conn = await asyncpg.connect(db_url)
        try:
            return (await load_analyzer(conn, embedder)).name
        finally:
            await conn.close()

    assert asyncio.run(newest()) == f"trained:{report['model_id']}"


@pytest.mark.parametrize(
    ("line3", "expected"),
    [
        ('{"text": "fine", "sentiment": "happy"}', "sentiment must be one of"),
        ('{"text": "fine", "sentiment": ', "not valid JSON"),
        ('{"sentiment": "neutral"}', "text is missing"),
    ],
)
def test_a_bad_training_file_exits_2_naming_the_line(
    tmp_path: Path, line3: str, expected: str
) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(
        '{"text": "broken again", "sentiment": "negative"}\n'
        '{"text": "thanks!", "sentiment": "positive"}\n' + line3 + "\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        _fte(), ["sentiment", "train", str(data)], env={"DATABASE_URL": "unused"}
    )
    assert result.exit_code == 2
    # rich wraps long lines: compare without whitespace.
    shown = "".join(result.output.split())
    assert f"{data}:3" in shown
    assert "".join(expected.split()) in shown


def test_a_file_missing_a_label_is_refused(tmp_path: Path) -> None:
    data = _write(
        tmp_path / "two.jsonl",
        [{"text": "bad", "sentiment": "negative"}, {"text": "ok?", "sentiment": "neutral"}] * 3,
    )
    with pytest.raises(Exception, match="positive 0"):
        read_labelled(data)
