"""Per-message sentiment: negative, neutral or positive, with a signed score.

The default analyzer needs no training data: it compares the message's MiniLM embedding with
prototype support messages written for this product, adds VADER's lexicon polarity and a
question cue, and leans towards `negative` the way a support inbox does. A team that labels
its own messages trains a better one with `fte sentiment train`; `load_analyzer` then returns
the newest trained model.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any, Literal

import asyncpg
import numpy as np
import numpy.typing as npt

from fte.agent import sentiment_repository
from fte.embeddings import TextEmbedder

log = logging.getLogger(__name__)

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, Label, Label] = ("negative", "neutral", "positive")
Matrix = npt.NDArray[np.float64]

# Default analyzer, in logit units. Similarities to the prototypes differ by a few hundredths
# between classes, hence the large scale; VADER's compound is in -1..1.
SIMILARITY_SCALE = 20.0
VADER_WEIGHT = 2.0
# A question asks for help; it leans neutral even when it names a problem.
QUESTION_WEIGHT = 1.0
TOP_K = 5
# The log of the class shares we assume when nothing is known about a team (45% negative, 35%
# neutral, 20% positive). Support inboxes lean negative, but most of what leans is a problem
# described calmly; a heavier prior pushed plain how-to questions past the hand-over threshold.
INBOX_PRIOR = np.log(np.array([0.45, 0.35, 0.20]))
# `sentiment_models.kind` of what `fte sentiment train` stores; see TrainedAnalyzer.
TRAINED_KIND = "linear-v1"


# Features shared by both analyzers and by training.

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
# Words, "!" and "?", and emoji: each emoji is a token of its own.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[!?]|[\u2600-\u27bf\U0001f300-\U0001faff]")


def tokens(text: str) -> list[str]:
    """Lower-cased words; links and @handles dropped."""
    text = _HANDLE.sub(" ", _URL.sub(" ", text.lower().replace("\u2019", "'")))
    return _TOKEN.findall(text)


def terms(text: str) -> list[str]:
    """The trained model's vocabulary units: words and adjacent word pairs ("not good",
    "on hold", "thank you" carry a tone their words alone do not). A model fitted on words
    only still reads the same: pairs outside its vocabulary are ignored."""
    words = tokens(text)
    return words + [f"{a} {b}" for a, b in pairwise(words)]


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_features(texts: list[str]) -> Matrix:
    """VADER's compound, neg, neu and pos per text (about 60 µs each)."""
    vader = _vader()
    rows = []
    for text in texts:
        s = vader.polarity_scores(text)
        rows.append((s["compound"], s["neg"], s["neu"], s["pos"]))
    return np.array(rows, dtype=np.float64).reshape(len(texts), 4)


def question_flags(texts: list[str]) -> Matrix:
    """1 where the message asks something: questions lean neutral."""
    return np.array([1.0 if "?" in t else 0.0 for t in texts])


# A request without a question mark ("help me check the fees", "is it normal that...") asks
# just the same; only the default analyzer reads it (trained models keep `question_flags`).
_ASKS = re.compile(
    r"\?|^\s*(?:is|are|can|could|do|does|did|should|will|would)\s|"
    r"^\s*(?:how|what|where|when|which)\s+(?:is|are|do|does|did|can|could|should|will|would|"
    r"to|happens)\b|"
    r"\b(?:help me|(?:I'?m|I am|I) trying to|I need (?:help|to)|I(?:'d| would) like to|"
    r"I want to know|(?:don't|do not) know (?:how|what|where))\b",
    re.IGNORECASE,
)


def asks_flags(texts: list[str]) -> Matrix:
    """1 where the message asks something, with or without a question mark."""
    return np.array([1.0 if _ASKS.search(t) else 0.0 for t in texts])


def dense_features(texts: list[str], vectors: Matrix) -> Matrix:
    """The trained model's dense block: embedding, VADER, question flag."""
    return np.hstack([vectors, vader_features(texts), question_flags(texts)[:, None]])


@dataclass(frozen=True)
class SentimentResult:
    """One message's sentiment; `score` runs from -1 (most negative) to +1 (most positive)."""

    label: Label
    score: float


class SentimentAnalyzer(ABC):
    """Scores messages; pass `vectors` (the embeddings the worker already has) to skip the model."""

    name: str

    def __init__(self, embedder: TextEmbedder):
        self._embedder = embedder

    def analyze(
        self, texts: list[str], vectors: npt.NDArray[np.floating[Any]] | None = None
    ) -> list[SentimentResult]:
        """One result per text, in order."""
        if not texts:
            return []
        if vectors is None:
            vectors = self._embedder.embed(texts)
        matrix = np.asarray(vectors, dtype=np.float64)
        if matrix.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {matrix.shape[0]} vectors")
        return results_from_logits(self.logits(texts, matrix))

    @abstractmethod
    def logits(self, texts: list[str], vectors: Matrix) -> Matrix:
        """Unnormalised class scores, shape (n, 3), columns in `LABELS` order."""


def softmax(logits: Matrix) -> Matrix:
    """Row-wise probabilities."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float64)


def results_from_logits(logits: Matrix) -> list[SentimentResult]:
    """Label = most probable class; score = P(positive) - P(negative), so its sign agrees."""
    probs = softmax(logits)
    return [
        SentimentResult(label=LABELS[int(row.argmax())], score=round(float(row[2] - row[0]), 4))
        for row in probs
    ]


@lru_cache(maxsize=4)
def _prototype_vectors(embedder: TextEmbedder) -> tuple[Matrix, tuple[int, ...]]:
    """The prototypes embedded once per embedder (about a second at worker start)."""
    vectors = [np.asarray(embedder.embed(list(PROTOTYPES[label])), np.float64) for label in LABELS]
    return np.vstack(vectors), tuple(len(v) for v in vectors)


class DefaultAnalyzer(SentimentAnalyzer):
    """No training data: prototype similarity + VADER + a question cue + an inbox prior."""

    name = "default-v1"

    def __init__(self, embedder: TextEmbedder):
        super().__init__(embedder)
        prototypes, sizes = _prototype_vectors(embedder)
        self._prototypes = prototypes
        self._bounds = np.cumsum((0, *sizes))
        centroids = np.vstack([prototypes[a:b].mean(axis=0) for a, b in pairwise(self._bounds)])
        self._centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)

    def similarities(self, vectors: Matrix) -> Matrix:
        """Per class: the mean of the centroid and the best few prototypes' cosine similarity.

        The centroid is the class's general tone; the nearest prototypes catch a specific
        phrasing (sarcasm, "thanks for nothing") the average washes out.
        """
        to_prototypes = vectors @ self._prototypes.T
        columns = []
        for cls, (a, b) in enumerate(pairwise(self._bounds)):
            block = to_prototypes[:, a:b]
            k = min(TOP_K, b - a)
            nearest = np.partition(block, -k, axis=1)[:, -k:].mean(axis=1)
            columns.append((vectors @ self._centroids[cls] + nearest) / 2)
        return np.stack(columns, axis=1)

    def logits(self, texts: list[str], vectors: Matrix) -> Matrix:
        compound = vader_features(texts)[:, 0]
        cues = np.stack(
            [
                VADER_WEIGHT * np.maximum(-compound, 0.0),
                # Loaded words ("broken", "useless") make a question rhetorical: less neutral.
                QUESTION_WEIGHT * asks_flags(texts) * (1.0 - np.maximum(-compound, 0.0)),
                VADER_WEIGHT * np.maximum(compound, 0.0),
            ],
            axis=1,
        )
        return SIMILARITY_SCALE * self.similarities(vectors) + cues + INBOX_PRIOR


class TrainedAnalyzer(SentimentAnalyzer):
    """A team's own classifier (`fte sentiment train`): a linear model over words and word
    pairs (tf-idf), the MiniLM embedding and VADER, with per-class offsets chosen for
    macro-F1."""

    def __init__(self, model_id: int | str, params: dict[str, Any], embedder: TextEmbedder):
        super().__init__(embedder)
        self.name = f"trained:{model_id}"
        self.model_id = model_id
        if list(params.get("labels", LABELS)) != list(LABELS):
            raise ValueError(f"labels {params['labels']} are not {list(LABELS)}")
        # Its weights only mean something for the embedding model it was fitted on.
        embedding = getattr(embedder, "name", None)
        if embedding and params.get("embedding", embedding) != embedding:
            raise ValueError(f"fitted on {params['embedding']} embeddings, not {embedding}")
        self._index = {token: i for i, token in enumerate(params["vocabulary"])}
        self._idf = np.asarray(params["idf"], dtype=np.float64)
        self._word_weights = np.asarray(params["word_weights"], dtype=np.float64).T  # (V, 3)
        self._dense_weights = np.asarray(params["dense_weights"], dtype=np.float64).T  # (D, 3)
        self._intercept = np.asarray(params["intercept"], dtype=np.float64) + np.asarray(
            params.get("offsets", [0.0, 0.0, 0.0]), dtype=np.float64
        )
        if self._word_weights.shape != (len(self._index), 3) or len(self._idf) != len(self._index):
            raise ValueError("word_weights do not match the vocabulary")

    def _word_scores(self, texts: list[str]) -> Matrix:
        """Sublinear tf-idf rows, L2-normalised, times the word weights; numpy does the sums
        for the whole batch because a Python loop per word would dominate the cost."""
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        for r, text in enumerate(texts):
            counts = Counter(t for t in terms(text) if t in self._index)
            for token, n in counts.items():
                rows.append(r)
                cols.append(self._index[token])
                tfs.append(1.0 + math.log(n))
        scores = np.zeros((len(texts), 3))
        if not cols:
            return scores
        row_idx = np.array(rows)
        values = np.array(tfs) * self._idf[cols]
        norms = np.sqrt(np.bincount(row_idx, weights=values**2, minlength=len(texts)))
        values /= norms[row_idx]
        contributions = self._word_weights[cols] * values[:, None]
        for c in range(3):
            scores[:, c] = np.bincount(row_idx, weights=contributions[:, c], minlength=len(texts))
        return scores

    def logits(self, texts: list[str], vectors: Matrix) -> Matrix:
        words = self._word_scores(texts)
        return words + dense_features(texts, vectors) @ self._dense_weights + self._intercept


def default_analyzer(embedder: TextEmbedder) -> SentimentAnalyzer:
    """The analyzer for a team that has trained nothing."""
    return DefaultAnalyzer(embedder)


async def load_analyzer(conn: asyncpg.Connection, embedder: TextEmbedder) -> SentimentAnalyzer:
    """The newest trained model in `sentiment_models`, else the default analyzer."""
    row = await sentiment_repository.latest_model(conn)
    if row is None:
        return default_analyzer(embedder)
    # A model this release cannot read (a newer kind, damaged params) must not stop the
    # worker: fall back to the default and say so.
    if row.kind != TRAINED_KIND:
        log.warning("sentiment model %s has unknown kind %r; using the default", row.id, row.kind)
        return default_analyzer(embedder)
    try:
        return TrainedAnalyzer(row.id, row.params, embedder)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("sentiment model %s is unreadable (%s); using the default", row.id, exc)
        return default_analyzer(embedder)


_VALUE = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def ticket_trend(labels: list[str]) -> str:
    """ "improving", "worsening" or "steady": the latest message against the ones before it.

    The latest message is what the customer feels now; it is compared with the average of
    (at most) the three before it, so one old outburst does not dominate a long thread.
    """
    values = [_VALUE[label] for label in labels if label in _VALUE]
    if len(values) < 2:
        return "steady"
    before = values[-4:-1]
    change = values[-1] - sum(before) / len(before)
    if change >= 0.5:
        return "improving"
    if change <= -0.5:
        return "worsening"
    return "steady"


# Written for this product: what customers write to a support inbox, in each tone. Short and
# generic on purpose (orders, accounts, billing, bookings, apps) so no one industry dominates.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "negative": (
        "This is the third time I'm contacting you and nothing has been fixed.",
        "My order still hasn't arrived and nobody answers my emails.",
        "I've been on hold for two hours, this is ridiculous.",
        "Your app keeps crashing every time I open it.",
        "I was charged twice and I want my money back now.",
        "Worst customer service I have ever dealt with.",
        "My booking was cancelled and no one told me.",
        "The delivery is late again, I'm so frustrated.",
        "I'm really disappointed with how you handled this.",
        "Why is nobody responding to me?",
        "Still waiting for my refund after three weeks.",
        "You lost my package and nobody can tell me where it is.",
        "I can't log in and the reset link doesn't work.",
        "This is completely unacceptable.",
        "Thanks for nothing.",
        "Great, another delay. Just great.",
        "I'm cancelling my subscription, I've had enough.",
        "Your website is down again and I can't do anything.",
        "I was promised a call back that never came.",
        "The item arrived broken and nobody cares.",
        "I've been waiting forever and still no update.",
        "Terrible experience, never using you again.",
        "The staff were rude and unhelpful.",
        "Your system messed up my reservation.",
        "Why do I have to pay extra for something that should be included?",
        "The call dropped after an hour on hold.",
        "Nobody can give me a straight answer.",
        "I'm stuck here with no information from your team.",
        "You keep sending me the same useless reply.",
        "This problem has been going on for days.",
        "I paid for a service I never received.",
        "Your support chat just disconnects me.",
        "What a joke, the update broke everything.",
        "I missed my appointment because of your mistake.",
        "I'm furious, you double billed me.",
        "So much for fast shipping.",
        "Nothing works and I've lost a whole day of work.",
        "You changed my plan without asking me.",
        "It's been delayed three times now.",
        "Hours of waiting and still no one has helped me.",
        "Your agent hung up on me.",
        "I want to speak to a manager about this mess.",
        "How is it possible that you still haven't fixed this?",
        "Why was my account suspended without warning?",
        "The quality has gone downhill, very poor service.",
        "I'm never recommending you to anyone.",
        "Again? This keeps happening.",
        "You overcharged me and refuse to refund it.",
        "My data is gone after your update.",
        "Seriously, how hard is it to answer a simple email?",
        # Questions that are not asking: exasperation, the question cue must not hide it.
        "Is anyone actually reading my messages?",
        "Hello?? Is there anybody working there at all?",
        "How many times do I have to report the same problem?",
        "Do you even care about your customers?",
    ),
    "neutral": (
        "How do I change my password?",
        "What are your opening hours?",
        "Can I change the date of my booking?",
        "Do you ship to Canada?",
        "Is there a student discount?",
        "Please send me the invoice for last month.",
        "I'd like to update my billing address.",
        "What is the baggage allowance on this ticket?",
        "When will the new version be released?",
        "Can you tell me the status of my order?",
        "I need to add a second user to my account.",
        "Is it possible to get the receipt by email?",
        "I'm following up on my previous message.",
        "I've sent you a direct message with my details.",
        "Are there any flights to Denver next Tuesday?",
        "Which plan includes API access?",
        "Do you have a phone number I can call?",
        "Where can I find my order number?",
        "Can I transfer my subscription to a colleague?",
        "My reference number is 48213.",
        "Does the price include tax?",
        "How long does standard delivery usually take?",
        "Can I pay by bank transfer?",
        "I'm travelling next week and want to know about the rules for pets.",
        "Is the service available in Spanish?",
        "Could you confirm my new email address?",
        "What do I need to bring for check-in?",
        "Is there a way to export my data?",
        "I'd like to know more about the business plan.",
        "Will my points carry over to next year?",
        "Can I pick a seat when booking?",
        "Just checking whether you received my form.",
        "What time does the sale start?",
        "Please call me back at this number.",
        "Here is the screenshot you asked for.",
        "Do you offer gift cards?",
        "How do I update the app?",
        "Any news on the new route announced last month?",
        "Can two people share one account?",
        "Where is your nearest office?",
        # How-to questions and problems described calmly: a problem is why people write, and
        # naming it ("not syncing", "error", "cancel") is not anger.
        "How do I turn on two-step sign-in?",
        "How can I cancel my subscription?",
        "What are the steps to close my account?",
        "Where do I see what I will be charged?",
        "Can you help me update my delivery address?",
        "How do I change the card I pay with?",
        "My photos stopped backing up last week, what can I do?",
        "I get an error message when I try to sign in, how can I fix it?",
        "There is a problem with my last payment, can you look into it?",
        "I can't find where to change my settings.",
        "The app does not open on my tablet, is there something I can try?",
        "I'm having trouble creating an account.",
        "I never got the confirmation email, could you send it again?",
        "How do I ask for my money back on a return?",
        "Please remove me from your mailing list.",
        "I deleted something by mistake, can I get it back?",
        "Why does the upload stop halfway through?",
        "How do I make my profile private?",
        "What happens to my data if I delete my account?",
        "I'd like to know where my parcel is.",
        "The invoice has the wrong company name on it, how do I correct it?",
        "I need to cancel an order I placed this morning.",
        "Is there a fee if I cancel early?",
        "Can I undo a change I made to my account?",
        "The export button is greyed out, how do I enable it?",
        "Is there a keyboard shortcut for this?",
        "I'm trying to connect my calendar but it fails.",
        "Nothing happens when I click the download link.",
        "How can I stop getting these notifications?",
        "Which report shows last month's orders?",
    ),
    "positive": (
        "Thank you so much for your help!",
        "Great service, the issue is fixed.",
        "Your support team was amazing.",
        "Thanks, that worked perfectly.",
        "I love the new feature.",
        "Really appreciate the quick response.",
        "Awesome, problem solved!",
        "The agent was very friendly and helpful.",
        "Best customer service ever.",
        "Delivery arrived early, very happy.",
        "Thanks for getting back to me so quickly.",
        "You guys rock!",
        "So happy with the upgrade, thank you.",
        "Everything went smoothly, great job.",
        "Thanks for sorting this out so fast.",
        "Excellent experience from start to finish.",
        "Kudos to your team for the great work.",
        "I'm impressed, you went above and beyond.",
        "Thank you, you made my day!",
        "Wonderful, I really enjoyed it.",
        "Perfect, that's exactly what I needed.",
        "Much appreciated, have a great day!",
        "Looking forward to using it again, thanks!",
        "Your staff were lovely and very kind.",
        "Got it, thanks a lot!",
        "Amazing service as always.",
        "Thanks for the update, much appreciated.",
        "I'm a happy customer.",
        "Great to hear, thank you!",
        "Shout out to the support agent who helped me today.",
    ),
}
