"""The first-message hand-over policy's precision and recall per reason, on labelled sets.

    .venv/bin/python bench/handover.py [--data DIR] [--vectors-cache DIR] [--misses N]

The policy runs as the agent runs it: the message rules first (legal, asks for a person,
refund, pricing), then `agent/handover.py` with the default sentiment analyzer's score. Sets
(the shared ones from DIR, default ../shared/data from the repository root):
  own       bench/data/handover.jsonl: customer-style messages written for this product, each
            labelled with its reason (`security`, `data_loss`, `churn_risk`, `complaint`) or
            none (how-to questions and calm problem reports, which must be answered)
  bitext    the `complaint` rows are complaints; asks for a person and refund demands are
            hand-overs by the message rules; every other row is answered
  twitter   negative tweets are complaints, neutral ones are not (positive ones left out)
  stackfaq  help-centre questions: none is a hand-over
Prints one JSON object: per set, over all rows and per side (`tune`, `held_out`: crc32 of the
row's id, or of the text for twitter, divisible by 3), `handed_over` (by the policy, whatever
its reason, against rows labelled with one of its reasons: precision, recall, share),
`per_reason` (the policy's reasons: precision, recall, predicted, support), and the policy's
cost in µs per message (sentiment excluded: the worker has it already).
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from fte.agent.escalation import message_reason
from fte.agent.handover import handover_reason
from fte.agent.sentiment import SentimentResult, default_analyzer
from fte.embeddings import get_embedder

ROOT = Path(__file__).resolve().parent.parent
OWN = ROOT / "bench" / "data" / "handover.jsonl"
DATA = ROOT.parent / "shared" / "data"
THRESHOLD = -0.9  # FTE_NEGATIVE_SENTIMENT_THRESHOLD's default
# bitext's escalation labels the policy or the message rules name; out-of-scope is retrieval's.
GOLD = {"complaint": "complaint", "contact_human_agent": "human_requested", "get_refund": "refund"}
POLICY_REASONS = ("security", "data_loss", "churn_risk", "complaint")
SIDES = ("tune", "held_out")


def side(group: str) -> str:
    """`held_out` for a third of the groups, by a hash that needs no seed."""
    return "held_out" if zlib.crc32(group.encode()) % 3 == 0 else "tune"


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def labelled_sets(data: Path) -> dict[str, list[tuple[str, str | None, str]]]:
    """Per set: (text, gold reason or None, group) rows."""
    sets: dict[str, list[tuple[str, str | None, str]]] = {
        "own": [(r["text"], r["reason"], r["id"]) for r in read(OWN)]
    }
    if (data / "bitext" / "dev.jsonl").exists():
        sets["bitext"] = [
            (
                r["text"],
                GOLD.get(r.get("reason") or ""),
                r["id"],
            )
            for r in read(data / "bitext" / "dev.jsonl")
        ]
    if (data / "twitter" / "dev.jsonl").exists():
        sets["twitter"] = [
            (r["text"], "complaint" if r["sentiment"] == "negative" else None, r["text"])
            for r in read(data / "twitter" / "dev.jsonl")
            if r["sentiment"] in ("negative", "neutral")
        ]
    if (data / "stackfaq" / "dev.jsonl").exists():
        sets["stackfaq"] = [
            (r["text"], None, r.get("article") or r["id"])
            for r in read(data / "stackfaq" / "dev.jsonl")
        ]
    return sets


def ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def figures(gold: list[str | None], predicted: list[str | None]) -> dict[str, Any]:
    """Hand-over precision/recall (any reason) and per policy reason."""
    pairs = list(zip(gold, predicted, strict=True))
    ours = [(g in POLICY_REASONS, p in POLICY_REASONS) for g, p in pairs]
    hit = sum(1 for g, p in ours if g and p)
    n_pred = sum(1 for _, p in ours if p)
    n_gold = sum(1 for g, _ in ours if g)
    per_reason = {}
    for reason in POLICY_REASONS:
        support = sum(1 for g, _ in pairs if g == reason)
        said = sum(1 for _, p in pairs if p == reason)
        if not support and not said:
            continue
        right = sum(1 for g, p in pairs if g == p == reason)
        per_reason[reason] = {
            "precision": ratio(right, said),
            "recall": ratio(right, support),
            "predicted": said,
            "support": support,
        }
    return {
        "rows": len(pairs),
        "handed_over": {
            "precision": ratio(hit, n_pred),
            "recall": ratio(hit, n_gold),
            "share": ratio(n_pred, len(pairs)),
        },
        "per_reason": per_reason,
    }


def decide(text: str, sentiment: SentimentResult) -> str | None:
    """As the runner orders it: the message rules, then the hand-over policy."""
    return message_reason(text) or handover_reason(text, sentiment, THRESHOLD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--vectors-cache", type=Path, help="a folder to reuse/save embeddings in")
    parser.add_argument("--misses", type=int, default=0, help="list up to N misses per set")
    args = parser.parse_args()

    embedder = get_embedder("cpu")
    analyzer = default_analyzer(embedder)
    report: dict[str, Any] = {"threshold": THRESHOLD, "sets": {}}
    policy_seconds, policy_rows = 0.0, 0
    for name, rows in labelled_sets(args.data).items():
        texts = [t for t, _, _ in rows]
        cache = args.vectors_cache / f"handover-{name}.npy" if args.vectors_cache else None
        if cache is not None and cache.exists() and np.load(cache).shape[0] == len(texts):
            vectors = np.load(cache)
        else:
            vectors = embedder.embed(texts)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, vectors)
        feelings = analyzer.analyze(texts, vectors)
        started = time.perf_counter()
        predicted = [decide(t, f) for t, f in zip(texts, feelings, strict=True)]
        policy_seconds += time.perf_counter() - started
        policy_rows += len(texts)
        gold = [g for _, g, _ in rows]
        sides = [side(group) for _, _, group in rows]
        entry = figures(gold, predicted)
        for part in SIDES:
            keep = [i for i, s in enumerate(sides) if s == part]
            entry[part] = figures([gold[i] for i in keep], [predicted[i] for i in keep])
        if args.misses:
            entry["misses"] = [
                {"text": texts[i], "gold": gold[i], "got": predicted[i], "score": feelings[i].score}
                for i in range(len(texts))
                if gold[i] != predicted[i]
            ][: args.misses]
        report["sets"][name] = entry
    report["policy_us_per_message"] = round(policy_seconds * 1e6 / max(policy_rows, 1), 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
