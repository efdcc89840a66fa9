"""Fit a team's own sentiment classifier (`fte sentiment train`) and measure it.

The model is a multinomial logistic regression over three blocks: tf-idf words and word pairs
(the team's own vocabulary), the MiniLM embedding the worker already computes, and VADER + a
question flag. Then per-class offsets, chosen on out-of-fold predictions, trade a little
negative recall for macro-F1 while keeping negative recall at NEGATIVE_RECALL_FLOOR: missing a
complaint costs more than mislabelling a question. Parameters are plain JSON lists.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fte.agent.sentiment import (
    LABELS,
    TRAINED_KIND,
    Matrix,
    TrainedAnalyzer,
    dense_features,
    terms,
)
from fte.embeddings import MODEL_NAME, TextEmbedder
from fte.errors import FteError

REGULARISATION_C = 1.0
MAX_VOCABULARY = 20_000
MIN_PER_LABEL = 2
NEGATIVE_RECALL_FLOOR = 0.88
# Offsets are only worth tuning when out-of-fold predictions are numerous enough to trust.
MIN_ROWS_FOR_OFFSETS = 200
FOLDS = 5
_OFFSET_GRID = np.round(np.arange(-1.0, 1.01, 0.1), 2)


class TrainingDataError(FteError):
    """The labelled file is missing or malformed; the message names the file and line."""


@dataclass(frozen=True)
class LabelledMessage:
    """One row of a training file."""

    text: str
    label: str


@dataclass
class TrainingOutcome:
    """What `train` fitted, and how it scored on the rows it did not see."""

    params: dict[str, Any]
    metrics: dict[str, Any]
    trained_on: int
    kind: str = TRAINED_KIND

    @property
    def holdout(self) -> dict[str, Any] | None:
        """Scores on the held-out rows, when some were held out."""
        held: dict[str, Any] | None = self.metrics.get("holdout")
        return held


def read_labelled(path: Path) -> list[LabelledMessage]:
    """JSON Lines rows with `text` and `sentiment` (negative, neutral or positive)."""
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    rows: list[LabelledMessage] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    rows.append(_parse_row(line, f"{path}:{lineno}"))
    except UnicodeDecodeError as exc:
        raise TrainingDataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    counts = Counter(row.label for row in rows)
    short = [label for label in LABELS if counts[label] < MIN_PER_LABEL]
    if short:
        have = ", ".join(f"{label} {counts[label]}" for label in LABELS)
        raise TrainingDataError(
            f"{path}: needs at least {MIN_PER_LABEL} messages of each label; it has {have}"
        )
    return rows


def _parse_row(line: str, where: str) -> LabelledMessage:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(row, dict):
        raise TrainingDataError(f"{where}: expected a JSON object with text and sentiment")
    text, label = row.get("text"), row.get("sentiment")
    if not isinstance(text, str) or not text.strip():
        raise TrainingDataError(f"{where}: text is missing or empty")
    if label not in LABELS:
        raise TrainingDataError(
            f"{where}: sentiment must be one of {', '.join(LABELS)}, not {label!r}"
        )
    return LabelledMessage(text=text, label=str(label))


def scores(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, and per label precision, recall, F1 and support."""
    per_label: dict[str, dict[str, float]] = {}
    for label in LABELS:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        support = sum(g == label for g in gold)
        guessed = sum(p == label for p in predicted)
        precision = tp / guessed if guessed else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return {
        "rows": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(LABELS), 4),
        "per_label": per_label,
    }


class _Vocabulary:
    """Sublinear tf-idf over the training texts' words, rows L2-normalised."""

    def __init__(self, texts: list[list[str]]):
        df: Counter[str] = Counter()
        for toks in texts:
            df.update(set(toks))
        # On a small file every word counts; on a large one, once-seen words are mostly noise.
        min_df = 2 if len(texts) >= 500 else 1
        kept = sorted((w for w, n in df.items() if n >= min_df), key=lambda w: (-df[w], w))
        self.words = kept[:MAX_VOCABULARY]
        self.index = {w: i for i, w in enumerate(self.words)}
        n = len(texts)
        self.idf = [math.log((1 + n) / (1 + df[w])) + 1.0 for w in self.words]

    def matrix(self, texts: list[list[str]]) -> Any:
        from scipy import sparse

        rows: list[int] = []
        cols: list[int] = []
        values: list[float] = []
        for r, toks in enumerate(texts):
            counts = Counter(t for t in toks if t in self.index)
            weights = {
                self.index[t]: (1 + math.log(c)) * self.idf[self.index[t]]
                for t, c in counts.items()
            }
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for col, weight in weights.items():
                rows.append(r)
                cols.append(col)
                values.append(weight / norm)
        return sparse.csr_matrix((values, (rows, cols)), shape=(len(texts), len(self.words)))


def _offsets(probs: Matrix, gold: npt.NDArray[np.int_]) -> list[float]:
    """Per-class log-offsets (neutral fixed at 0) maximising macro-F1 with negative recall
    at the floor; zeros when no offset reaches the floor."""
    logp = np.log(probs + 1e-9)
    best: tuple[float, float, float] | None = None
    for neg in _OFFSET_GRID:
        for pos in _OFFSET_GRID:
            predicted = (logp + np.array([neg, 0.0, pos])).argmax(axis=1)
            if np.mean(predicted[gold == 0] == 0) < NEGATIVE_RECALL_FLOOR:
                continue
            f1 = _macro_f1(gold, predicted)
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, float(neg), float(pos))
    return [0.0, 0.0, 0.0] if best is None else [best[1], 0.0, best[2]]


def _macro_f1(gold: npt.NDArray[np.int_], predicted: npt.NDArray[np.int_]) -> float:
    f1s = []
    for c in range(len(LABELS)):
        tp = float(np.sum((gold == c) & (predicted == c)))
        denom = float(np.sum(gold == c) + np.sum(predicted == c))
        f1s.append(2 * tp / denom if denom else 0.0)
    return sum(f1s) / len(f1s)


def _round(values: Any) -> Any:
    """Six significant digits: the JSON stays small and nothing measurable is lost."""
    return np.vectorize(lambda x: float(f"{x:.6g}"))(np.asarray(values)).tolist()


def fit(texts: list[str], labels: list[str], vectors: Matrix, *, seed: int = 0) -> dict[str, Any]:
    """Fit the classifier on labelled texts and their embeddings; returns JSON params."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    gold = np.array([LABELS.index(label) for label in labels])
    toks = [terms(t) for t in texts]
    vocabulary = _Vocabulary(toks)
    dense = dense_features(texts, np.asarray(vectors, dtype=np.float64))
    features = sparse.hstack([vocabulary.matrix(toks), sparse.csr_matrix(dense)]).tocsr()

    def model() -> Any:
        return LogisticRegression(C=REGULARISATION_C, max_iter=3000)

    offsets = [0.0, 0.0, 0.0]
    if len(texts) >= MIN_ROWS_FOR_OFFSETS and np.bincount(gold, minlength=3).min() >= FOLDS:
        out_of_fold = np.zeros((len(texts), len(LABELS)))
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        for train_idx, test_idx in folds.split(features, gold):
            fold = model().fit(features[train_idx], gold[train_idx])
            out_of_fold[test_idx] = fold.predict_proba(features[test_idx])
        offsets = _offsets(out_of_fold, gold)

    fitted = model().fit(features, gold)
    coef = np.asarray(fitted.coef_)
    n_words = len(vocabulary.words)
    return {
        "labels": list(LABELS),
        "embedding": MODEL_NAME,
        "features": "tfidf-words+pairs+embedding+vader+question",
        "vocabulary": vocabulary.words,
        "idf": _round(vocabulary.idf),
        "word_weights": _round(coef[:, :n_words]),
        "dense_weights": _round(coef[:, n_words:]),
        "intercept": _round(fitted.intercept_),
        "offsets": offsets,
    }


def predict(
    params: dict[str, Any], texts: list[str], vectors: Matrix, embedder: TextEmbedder
) -> list[str]:
    """Labels from fitted params, through the same code the worker runs."""
    analyzer = TrainedAnalyzer("candidate", params, embedder)
    return [r.label for r in analyzer.analyze(texts, vectors)]


def train(
    messages: list[LabelledMessage],
    vectors: Matrix,
    embedder: TextEmbedder,
    *,
    holdout: float = 0.2,
    seed: int = 0,
) -> TrainingOutcome:
    """Score a fit on a seeded held-out share, then fit the stored model on every row."""
    texts = [m.text for m in messages]
    labels = [m.label for m in messages]
    metrics: dict[str, Any] = {"holdout_fraction": holdout, "seed": seed}
    n_held = round(len(messages) * holdout)
    if n_held > 0:
        order = np.random.default_rng(seed).permutation(len(messages))
        test, train_idx = order[:n_held], order[n_held:]
        if len({labels[i] for i in train_idx}) < len(LABELS):
            raise TrainingDataError(
                "too few messages to hold some out: every label must stay in the training part"
            )
        params = fit(
            [texts[i] for i in train_idx],
            [labels[i] for i in train_idx],
            vectors[train_idx],
            seed=seed,
        )
        predicted = predict(params, [texts[i] for i in test], vectors[test], embedder)
        metrics["holdout"] = scores([labels[i] for i in test], predicted)
    final = fit(texts, labels, vectors, seed=seed)
    return TrainingOutcome(params=final, metrics=metrics, trained_on=len(messages))
