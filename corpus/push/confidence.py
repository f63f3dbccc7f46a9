"""How sure the learned labeller is that a document's labels reach the right people: `Targeting.confidence`.

A small logistic model over what the learned audience and topic models say about a document
(`confidence_features`: how certain the predicted audience is, how probable the chosen topics
are, whether groups or topics carry the match, national reach) estimates the probability that
every profile-document pair the labels produce is correct. It is fitted on out-of-fold
predictions (`eval.push_models`), so the logistic fit is itself the Platt calibration of those
scores; its reliability is measured out of fold too. `auto_threshold` is the lowest confidence
at which, out of fold, the pairs of documents at or above it were at least 95 % correct: the
review step (`qa_service.push.gate`) may send those without an operator.

Saved as one small `<stem>.json` (feature names, weights, bias, threshold, provenance).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.audience import audience_cues
from corpus.push.targeting import JurisdictionLevel, Targeting
from corpus.push.taxonomy import Audience
from corpus.push.topic_rules import rule_topics

__all__ = [
    "CONFIDENCE_FEATURES",
    "ConfidenceModel",
    "confidence_features",
    "rule_view",
    "fit_confidence",
    "choose_auto_threshold",
    "reliability_table",
]

FORMAT_VERSION = 1
CONFIDENCE_FEATURES: tuple[str, ...] = (
    "audience_logp",  # log-probability of the predicted audience set
    "audience_margin",  # min over sides of |2p - 1|
    "n_sides",
    "topic_top",  # probability of the most probable topic
    "topic_min",  # probability of the least probable chosen topic
    "has_groups",  # groups, not topics, decide the match
    "national",
    "audience_agrees",  # the rules' audience is the same
    "topics_agree",  # Jaccard of the chosen topics and the keyword rules' topics
)


def confidence_features(
    targeting: Targeting,
    audience_probs: Sequence[float],
    topic_scored: Sequence[tuple[str, float]],
    rule_audience: Sequence[Audience] = (),
    rule_topics: Sequence[str] = (),
) -> np.ndarray:
    """(len(CONFIDENCE_FEATURES),) float32 for one labelled document.

    `audience_probs`: p(resident), p(enterprise); `topic_scored`: the decoded topics with their
    probabilities; `rule_audience`, `rule_topics`: what the rules alone say (agreement is a cue).
    """
    if len(audience_probs) != 2:
        raise ValueError(f"audience_probs must be (p_resident, p_enterprise), got {audience_probs!r}")
    p = np.clip(np.asarray(audience_probs, dtype=np.float64), 1e-6, 1 - 1e-6)
    sides = np.array([any(a.value == s for a in targeting.audience) for s in ("resident", "enterprise")])
    logp = float(np.where(sides, np.log(p), np.log(1 - p)).sum())
    probs = [float(s) for _, s in topic_scored] or [0.0]
    return np.asarray(
        [
            max(logp, -10.0),
            float(np.abs(2 * p - 1).min()),
            float(sides.sum()),
            max(probs),
            min(probs),
            float(bool(targeting.groups)),
            float(targeting.jurisdiction.level is JurisdictionLevel.NATIONAL),
            float(set(rule_audience) == set(targeting.audience)),
            _jaccard({t for t, _ in topic_scored}, set(rule_topics)),
        ],
        dtype=np.float32,
    )


def rule_view(doc: Document) -> tuple[tuple[Audience, ...], tuple[str, ...]]:
    """What the rules alone say: the cue audience (before groups) and the keyword topics."""
    title, text = doc.title or "", doc.text or ""
    return audience_cues(title, text).decision() or (), rule_topics(title, text)


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class ConfidenceModel:
    """confidence = sigmoid(x @ weights + bias); `auto_threshold` for sending without review."""

    weights: np.ndarray  # (len(CONFIDENCE_FEATURES),) float32
    bias: float
    auto_threshold: float = 1.0
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.weights.shape != (len(CONFIDENCE_FEATURES),):
            raise ValueError(f"weights must be ({len(CONFIDENCE_FEATURES)},), got {self.weights.shape}")
        if not 0.0 <= self.auto_threshold <= 1.0:
            raise ValueError(f"auto_threshold must be in 0..1, got {self.auto_threshold}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n,) confidences in 0..1 for (n, len(CONFIDENCE_FEATURES)) features."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != len(CONFIDENCE_FEATURES):
            raise ValueError(f"features must have {len(CONFIDENCE_FEATURES)} columns, got {x.shape[1]}")
        return _sigmoid(x @ self.weights.astype(np.float64) + self.bias)

    def save(self, stem: str | Path) -> Path:
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "features": list(CONFIDENCE_FEATURES),
            "weights": [float(w) for w in self.weights],
            "bias": float(self.bias),
            "auto_threshold": self.auto_threshold,
            "info": self.info,
        }
        js = stem.with_suffix(".json")
        tmp = js.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(js)
        return js

    @classmethod
    def load(cls, stem: str | Path) -> ConfidenceModel:
        js = Path(stem).with_suffix(".json")
        if not js.is_file():
            raise FileNotFoundError(f"confidence model file not found: {js}")
        meta = json.loads(js.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION or tuple(meta.get("features") or ()) != CONFIDENCE_FEATURES:
            raise ValueError(f"{js}: format or features differ from this code's; rebuild it")
        return cls(
            weights=np.asarray(meta["weights"], dtype=np.float32),
            bias=float(meta["bias"]),
            auto_threshold=float(meta["auto_threshold"]),
            info=dict(meta.get("info") or {}),
        )


def fit_confidence(x: np.ndarray, y: np.ndarray, c: float = 1.0) -> ConfidenceModel:
    """L2 logistic regression of y (1: all the document's pairs right) on standardised features."""
    if x.ndim != 2 or x.shape[1] != len(CONFIDENCE_FEATURES) or len(y) != len(x):
        raise ValueError(f"x must be (n, {len(CONFIDENCE_FEATURES)}) and y (n,), got {x.shape} and {y.shape}")
    if len(y) == 0 or y.min() == y.max():  # one class: its smoothed rate
        rate = (float(y.sum()) + 0.5) / (len(y) + 1.0)
        return ConfidenceModel(np.zeros(len(CONFIDENCE_FEATURES), np.float32), math.log(rate / (1 - rate)))
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # training only
        raise ImportError("training the confidence model needs scikit-learn: pip install 'scikit-learn>=1.4'") from e
    x = x.astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    clf = LogisticRegression(C=c, max_iter=5000).fit((x - mu) / sd, y)
    w = clf.coef_[0] / sd
    return ConfidenceModel(w.astype(np.float32), float(clf.intercept_[0] - (clf.coef_[0] * mu / sd).sum()),
                           info={"C": c, "n_train": len(y)})  # fmt: skip


def choose_auto_threshold(conf: np.ndarray, tp: np.ndarray, fp: np.ndarray, min_precision: float = 0.95) -> float:
    """Lowest threshold t (one of `conf`) at which the pairs of documents with confidence >= t are at least
    `min_precision` correct; 1.0 (nothing is sent on its own) when no t reaches it."""
    best = 1.0
    for t in sorted(set(np.round(conf, 6).tolist()), reverse=True):
        sent = conf >= t
        n = tp[sent].sum() + fp[sent].sum()
        if n and tp[sent].sum() / n >= min_precision:
            best = t
    return float(best)


def reliability_table(conf: np.ndarray, y: np.ndarray, bins: int = 5) -> list[dict[str, Any]]:
    """Equal-width bins of confidence: documents, mean confidence, observed share of documents right."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if m.any():
            out.append({"bin": [round(float(lo), 2), round(float(hi), 2)], "n": int(m.sum()),
                        "mean_confidence": float(conf[m].mean()), "observed": float(y[m].mean())})  # fmt: skip
    return out
