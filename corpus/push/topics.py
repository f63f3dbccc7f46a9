"""A learned topic classifier for push labels: e5 embeddings in, 1-3 calibrated topics out.

Features of a document (`document_features`): the embedding of its title, and the mean and
the element-wise max of the embeddings of its first `max_passages` passages (chunked like the
index does, `corpus.chunking.chunk_document`), then the keyword rules' view (`rule_features`:
each topic's cue score over the best one, and the rules' own 1-3 topics as 0/1), concatenated.
The rule features earned their place out of fold on push-dev (topic F1 0.706 -> 0.773). The encoder is anything with
`encode_passages(texts) -> (n, dim)` L2-normalised float32 (`index.encoders`); this module
never loads one itself, so the labeller keeps working without a model (then: rule topics).

Two heads share one artifact format (`TopicModel`: a weight matrix, a bias, a threshold):
- `logreg`: one-vs-rest logistic regression per topic (scikit-learn, training only);
- `prototype`: the mean feature of each topic's documents, cosine similarity rescaled by one
  Platt-scaled sigmoid shared by all topics.
Decoding (`TopicModel.decode`): the most probable topic always, the second and third when their
probability reaches `threshold`. `train_topic_model` picks C and the threshold on inner folds.

Saved as `<stem>.json` (taxonomy, threshold, bias, provenance) + `<stem>.npy` (weights): no pickle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corpus.chunking import chunk_document
from corpus.models import Document
from corpus.push.artifacts import load_artifact, save_artifact
from corpus.push.taxonomy import TOPICS
from corpus.push.topic_rules import rule_topics, topic_scores

log = logging.getLogger(__name__)

__all__ = [
    "MAX_PASSAGES",
    "TopicModel",
    "TopicClassifier",
    "document_features",
    "embedding_features",
    "rule_features",
    "fit_logreg",
    "fit_prototypes",
    "choose_threshold",
    "train_topic_model",
]

FORMAT_VERSION = 1
MAX_PASSAGES = 16
CHUNK_MAX_CHARS = 300  # index.config.IndexConfig.chunk_max_chars
MAX_TOPICS = 3
HEADS = ("logreg", "prototype")
DEFAULT_CS = (0.3, 1.0, 3.0, 10.0)
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


class PassageEncoder(Protocol):
    name: str
    dim: int

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def embedding_features(
    docs: Sequence[Document], encoder: PassageEncoder, max_passages: int = MAX_PASSAGES
) -> np.ndarray:
    """(n, 3 * dim) float32: [title, mean of passages, max of passages] for each document.

    All texts go to the encoder in one call, so it can batch passages of equal length.
    """
    if max_passages < 1:
        raise ValueError(f"max_passages must be >= 1, got {max_passages}")
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []  # title position, first and end passage positions
    for d in docs:
        passages = [p.text for p in chunk_document(d, max_chars=CHUNK_MAX_CHARS)][:max_passages]
        title = (d.title or "").strip() or (d.text or "").strip()[:100] or "无标题"
        passages = passages or [title]
        spans.append((len(texts), len(texts) + 1, len(texts) + 1 + len(passages)))
        texts.append(title)
        texts.extend(passages)
    if not texts:
        return np.zeros((0, 3 * encoder.dim), dtype=np.float32)
    emb = np.asarray(encoder.encode_passages(texts), dtype=np.float32)
    rows = [np.concatenate([emb[t], emb[a:b].mean(axis=0), emb[a:b].max(axis=0)]) for t, a, b in spans]
    return np.stack(rows).astype(np.float32)


N_RULE_FEATURES = 2 * len(TOPICS)


def rule_features(docs: Sequence[Document]) -> np.ndarray:
    """(n, 40) float32: each topic's keyword cue score / the best score, then the rules' topics as 0/1."""
    out = np.zeros((len(docs), N_RULE_FEATURES), dtype=np.float32)
    for r, d in enumerate(docs):
        title, text = d.title or "", d.text or ""
        scores = topic_scores(title, text)
        top = max(max(scores.values(), default=0), 1)
        chosen = set(rule_topics(title, text))
        for j, t in enumerate(TOPICS):
            out[r, j] = scores[t] / top
            out[r, len(TOPICS) + j] = float(t in chosen)
    return out


def document_features(
    docs: Sequence[Document], encoder: PassageEncoder, max_passages: int = MAX_PASSAGES
) -> np.ndarray:
    """(n, 3 * dim + 40) float32: `embedding_features` then `rule_features`."""
    return np.hstack([embedding_features(docs, encoder, max_passages), rule_features(docs)])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class TopicModel:
    """p(topic | features) = sigmoid(f(x) @ weights.T + bias), f = identity or row L2 norm (`normalize`)."""

    weights: np.ndarray  # (n_topics, n_features) float32
    bias: np.ndarray  # (n_topics,) float32
    threshold: float = 0.5
    topics: tuple[str, ...] = TOPICS
    head: str = "logreg"
    normalize: bool = False
    max_topics: int = MAX_TOPICS
    info: dict[str, Any] = field(default_factory=dict, compare=False)  # encoder, training data, C...

    def __post_init__(self) -> None:
        if self.weights.ndim != 2 or self.weights.shape[0] != len(self.topics):
            raise ValueError(f"weights must be (n_topics={len(self.topics)}, n_features), got {self.weights.shape}")
        if self.bias.shape != (len(self.topics),):
            raise ValueError(f"bias must be ({len(self.topics)},), got {self.bias.shape}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if not 1 <= self.max_topics <= len(self.topics):
            raise ValueError(f"max_topics must be 1..{len(self.topics)}, got {self.max_topics}")
        unknown = [t for t in self.topics if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topics {unknown}; allowed: {', '.join(TOPICS)}")

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[1])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(n, n_topics) probabilities for (n, n_features) features."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float32))
        if x.shape[1] != self.n_features:
            raise ValueError(f"features must have {self.n_features} columns, got {x.shape[1]}")
        if self.normalize:
            x = _unit_rows(x)
        return _sigmoid(x @ self.weights.T + self.bias)

    def decode(self, probs: np.ndarray) -> list[tuple[tuple[str, float], ...]]:
        """Per row: the top topic, then up to max_topics - 1 more whose probability >= threshold."""
        out = []
        for row in np.atleast_2d(probs):
            order = np.argsort(-row, kind="stable")[: self.max_topics]
            keep = [order[0]] + [j for j in order[1:] if row[j] >= self.threshold]
            out.append(tuple((self.topics[j], float(row[j])) for j in keep))
        return out

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write `<stem>.json` and `<stem>.npy` (each via a temp file renamed into place)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "head": self.head,
            "topics": list(self.topics),
            "threshold": self.threshold,
            "normalize": self.normalize,
            "max_topics": self.max_topics,
            "n_features": self.n_features,
            "bias": [float(b) for b in self.bias],
            "info": self.info,
        }
        return save_artifact(stem, meta, self.weights)

    @classmethod
    def load(cls, stem: str | Path) -> TopicModel:
        meta, weights, _ = load_artifact(stem, "topic model", FORMAT_VERSION)
        return cls(
            weights=weights,
            bias=np.asarray(meta["bias"], dtype=np.float32),
            threshold=float(meta["threshold"]),
            topics=tuple(meta["topics"]),
            head=meta["head"],
            normalize=bool(meta["normalize"]),
            max_topics=int(meta["max_topics"]),
            info=dict(meta.get("info") or {}),
        )


class TopicClassifier:
    """A `TopicModel` bound to its encoder: the labeller's optional topic hook (`label_document(topic_predictor=)`)."""

    def __init__(self, model: TopicModel, encoder: PassageEncoder, max_passages: int | None = None) -> None:
        expected = model.info.get("encoder")
        if expected and expected != encoder.name:
            raise ValueError(f"topic model was trained on encoder {expected!r}, got {encoder.name!r}")
        if 3 * encoder.dim + N_RULE_FEATURES != model.n_features:
            raise ValueError(
                f"topic model needs {model.n_features} features, a {encoder.dim}-d encoder gives "
                f"{3 * encoder.dim + N_RULE_FEATURES}"
            )
        self.model = model
        self.encoder = encoder
        self.max_passages = max_passages or int(model.info.get("max_passages", MAX_PASSAGES))

    def predict_scored(self, doc: Document) -> tuple[tuple[str, float], ...]:
        x = document_features([doc], self.encoder, self.max_passages)
        return self.model.decode(self.model.predict_proba(x))[0]

    def predict(self, doc: Document) -> tuple[str, ...]:
        return tuple(t for t, _ in self.predict_scored(doc))


# ---------------------------------------------------------------- training


def _check_xy(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"x must be (n, d) and y (n, n_topics) with the same n, got {x.shape} and {y.shape}")


def fit_logreg(x: np.ndarray, y: np.ndarray, c: float = 1.0, topics: tuple[str, ...] = TOPICS) -> TopicModel:
    """One-vs-rest L2 logistic regression; a topic without positives gets probability ~0."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # training only: prediction is numpy
        raise ImportError("training the topic model needs scikit-learn: pip install 'scikit-learn>=1.4'") from e
    _check_xy(x, y)
    w = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
    b = np.full(y.shape[1], -10.0, dtype=np.float32)
    for j in range(y.shape[1]):
        if 0 < y[:, j].sum() < len(y):
            clf = LogisticRegression(C=c, max_iter=2000, solver="lbfgs")
            clf.fit(x, y[:, j])
            w[j], b[j] = clf.coef_[0], clf.intercept_[0]
    return TopicModel(w, b, topics=topics, head="logreg", info={"C": c})


def fit_prototypes(x: np.ndarray, y: np.ndarray, topics: tuple[str, ...] = TOPICS) -> TopicModel:
    """Unit-length mean feature per topic; cosine -> probability by one sigmoid fitted on the training pairs."""
    _check_xy(x, y)
    xu = _unit_rows(x.astype(np.float32))
    protos = np.zeros((y.shape[1], x.shape[1]), dtype=np.float32)
    for j in range(y.shape[1]):
        if y[:, j].any():
            protos[j] = xu[y[:, j] > 0].mean(axis=0)
    protos = _unit_rows(protos)
    sims = (xu @ protos.T).ravel()
    labels = (y > 0).ravel().astype(float)
    a, c = _platt(sims, labels)
    bias = np.where(y.any(axis=0), c, -30.0).astype(np.float32)
    return TopicModel((a * protos).astype(np.float32), bias, topics=topics, head="prototype", normalize=True)


def _platt(s: np.ndarray, t: np.ndarray, steps: int = 500) -> tuple[float, float]:
    """Fit p = sigmoid(a * s + c) by Newton's method on the log loss."""
    a, c = 1.0, 0.0
    for _ in range(steps):
        p = _sigmoid(a * s + c)
        g = np.array([((p - t) * s).sum(), (p - t).sum()])
        wgt = p * (1 - p) + 1e-9
        h = np.array([[(wgt * s * s).sum(), (wgt * s).sum()], [(wgt * s).sum(), wgt.sum()]]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, c = a - step[0], c - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(c)


def set_f1(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> float:
    tp = sum(len(set(p) & set(g)) for p, g in zip(pred, gold, strict=True))
    n_pred = sum(len(set(p)) for p in pred)
    n_gold = sum(len(set(g)) for g in gold)
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0


def choose_threshold(model: TopicModel, probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, micro F1) maximising topic F1 of `model.decode` on held-out `probs`; ties -> higher."""
    gold = [[model.topics[j] for j in np.flatnonzero(row)] for row in y]
    best = (0.5, -1.0)
    for t in THRESHOLDS:
        pred = [[name for name, _ in row] for row in _with_threshold(model, t).decode(probs)]
        f = set_f1(pred, gold)
        if f >= best[1]:
            best = (t, f)
    return best


def _with_threshold(model: TopicModel, threshold: float) -> TopicModel:
    return TopicModel(
        model.weights, model.bias, threshold, model.topics, model.head, model.normalize, model.max_topics, model.info
    )


def _fit(head: str, x: np.ndarray, y: np.ndarray, c: float, topics: tuple[str, ...]) -> TopicModel:
    if head == "logreg":
        return fit_logreg(x, y, c, topics)
    if head == "prototype":
        return fit_prototypes(x, y, topics)
    raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")


def train_topic_model(
    x: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    head: str = "logreg",
    cs: Sequence[float] = DEFAULT_CS,
    topics: tuple[str, ...] = TOPICS,
) -> TopicModel:
    """Fit on all of (x, y) with C and the threshold chosen on the out-of-fold probabilities of `folds`.

    `folds[i]` is the inner fold of row i (e.g. `eval.push_cv.assign_folds`); rows of one document
    must share a fold. The prototype head has no C: only the threshold is chosen.
    """
    _check_xy(x, y)
    if len(folds) != len(x) or len(set(folds.tolist())) < 2:
        raise ValueError("folds must give each row a fold, with at least two folds")
    best: tuple[float, float, float] | None = None  # (f1, C, threshold)
    for c in cs if head == "logreg" else (1.0,):
        oof = np.zeros(y.shape, dtype=np.float32)
        for k in sorted(set(folds.tolist())):
            test = folds == k
            oof[test] = _fit(head, x[~test], y[~test], c, topics).predict_proba(x[test])
        t, f = choose_threshold(_probe(head, x, topics), oof, y)
        log.info("topic model %s C=%s: inner out-of-fold F1 %.3f at threshold %.2f", head, c, f, t)
        if best is None or f > best[0]:
            best = (f, c, t)
    assert best is not None
    f, c, t = best
    model = _fit(head, x, y, c, topics)
    info = {**model.info, "inner_f1": round(f, 4), "n_train": len(x)}
    if head != "logreg":
        info.pop("C", None)
    return TopicModel(model.weights, model.bias, t, topics, head, model.normalize, model.max_topics, info)


def _probe(head: str, x: np.ndarray, topics: tuple[str, ...]) -> TopicModel:
    """A model with the right shape and decoding rule, for `choose_threshold` (weights unused)."""
    return TopicModel(
        np.zeros((len(topics), x.shape[1]), dtype=np.float32),
        np.zeros(len(topics), dtype=np.float32),
        0.5,
        topics,
        head,
    )
