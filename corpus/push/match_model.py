"""P(match): how probable it is that a profile-document pair the push rule produces is a right one.

The gold rule (`corpus.push.matching.match`) matches on kind, area, and a shared group (or a
shared topic when the document names no group). Each of those rests on a field the learned
models give a probability for (`Targeting.probabilities`): the audience side of the profile's
kind, the shared groups (and, on the topic path, that the document names no group at all), the
shared topics. `pair_features` reads them for one pair; a logistic model over them, fitted on
out-of-fold pairs (`eval.push_match`), is the Platt calibration that turns them into P(match).
`auto_threshold` is the lowest P at which, out of fold, the pairs at or above it were at least
95 % right: the review gate (`qa_service.push.gate`) sends those without an operator.

Saved as one `<stem>.json` (feature names, weights, bias, threshold, provenance).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corpus.push.matching import MatchReason, match
from corpus.push.profiles import Profile
from corpus.push.targeting import JurisdictionLevel, Targeting

__all__ = ["MATCH_FEATURES", "MatchModel", "pair_features", "fit_match_model", "choose_threshold"]


FORMAT_VERSION = 1
UNKNOWN = 0.5  # a field without a probability (rules, or a topic a group implies)
MATCH_FEATURES: tuple[str, ...] = (
    "logit_kind",  # p(the document is for the profile's kind)
    "logit_other_side",  # p(the other side): a document for both is less sure to be for one
    "logit_shared",  # p(at least one shared group), or of a shared topic on the topic path
    "logit_no_groups",  # topic path: p(the document names no group); group path: 0
    "via_group",
    "n_shared",
    "logit_confidence",  # the document-level confidence (corpus.push.confidence), 0.5 when absent
    "national",
    "district",
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def pair_features(kind: str, reason: MatchReason, targeting: Targeting) -> np.ndarray:
    """(len(MATCH_FEATURES),) float32 for a pair the rule matched (`reason`) with a profile of `kind`."""
    probs = targeting.probabilities
    aud = probs.get("audience", {})
    other = "enterprise" if kind == "resident" else "resident"
    groups = probs.get("groups", {})
    topics = probs.get("topics", {})
    if reason.via == "group":
        miss = math.prod(1 - groups.get(g, UNKNOWN) for g in reason.shared)
        shared, no_groups = 1 - miss, 0.0
    else:
        miss = math.prod(1 - topics.get(t, UNKNOWN) for t in reason.shared)
        shared = 1 - miss
        no_groups = _logit(math.prod(1 - p for p in groups.values())) if groups else _logit(1 - UNKNOWN / 2)
    level = targeting.jurisdiction.level
    conf = targeting.confidence if targeting.confidence is not None else UNKNOWN
    return np.asarray(
        [
            _logit(aud.get(kind, UNKNOWN)),
            _logit(aud.get(other, UNKNOWN)),
            _logit(shared),
            no_groups,
            float(reason.via == "group"),
            float(len(reason.shared)),
            _logit(conf),
            float(level is JurisdictionLevel.NATIONAL),
            float(level is JurisdictionLevel.DISTRICT),
        ],
        dtype=np.float32,
    )


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class MatchModel:
    """P(match) = sigmoid(pair_features @ weights + bias); pairs at >= auto_threshold may go out unreviewed."""

    weights: np.ndarray
    bias: float
    auto_threshold: float = 1.0
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.weights.shape != (len(MATCH_FEATURES),):
            raise ValueError(f"weights must be ({len(MATCH_FEATURES)},), got {self.weights.shape}")
        if not 0.0 <= self.auto_threshold <= 1.0:
            raise ValueError(f"auto_threshold must be in 0..1, got {self.auto_threshold}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != len(MATCH_FEATURES):
            raise ValueError(f"features must have {len(MATCH_FEATURES)} columns, got {x.shape[1]}")
        return _sigmoid(x @ self.weights.astype(np.float64) + self.bias)

    def probability(self, profile: Profile, targeting: Targeting) -> float | None:
        """P(match) of one pair; None when the rule does not match it."""
        reason = match(profile, targeting)
        return None if reason is None else float(self.predict(pair_features(profile.kind.value, reason, targeting))[0])

    def floor(self, targeting: Targeting) -> float | None:
        """The lowest P(match) any profile the labels can reach would get: over the audience's sides and
        each single group (or, without groups, each single topic) a profile could share. More shared
        groups only raise P, so a document whose floor reaches `auto_threshold` has no pair below it,
        whoever subscribes. None when the labels reach nobody."""
        if targeting.expired or not targeting.audience:
            return None
        via, items = ("group", targeting.groups) if targeting.groups else ("topic", targeting.topics)
        rows = [
            pair_features(side.value, MatchReason("", targeting.doc_id, "", via, (item,)), targeting)
            for side in targeting.audience
            for item in items
        ]
        return float(self.predict(np.stack(rows)).min()) if rows else None

    def save(self, stem: str | Path) -> Path:
        js = Path(stem).with_suffix(".json")
        js.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format_version": FORMAT_VERSION, "features": list(MATCH_FEATURES),
                "weights": [float(w) for w in self.weights], "bias": float(self.bias),
                "auto_threshold": self.auto_threshold, "info": self.info}  # fmt: skip
        tmp = js.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        tmp.replace(js)
        return js

    @classmethod
    def load(cls, stem: str | Path) -> MatchModel:
        js = Path(stem).with_suffix(".json")
        if not js.is_file():
            raise FileNotFoundError(f"match model file not found: {js}")
        meta = json.loads(js.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION or tuple(meta.get("features") or ()) != MATCH_FEATURES:
            raise ValueError(f"{js}: format or features differ from this code's; rebuild it")
        return cls(np.asarray(meta["weights"], np.float32), float(meta["bias"]), float(meta["auto_threshold"]),
                   dict(meta.get("info") or {}))  # fmt: skip


def fit_match_model(x: np.ndarray, y: np.ndarray, c: float = 0.3) -> MatchModel:
    """Logistic regression of y (1: the pair is gold) on standardised pair features (Platt on OOF scores)."""
    if x.ndim != 2 or x.shape[1] != len(MATCH_FEATURES) or len(y) != len(x):
        raise ValueError(f"x must be (n, {len(MATCH_FEATURES)}) and y (n,), got {x.shape} and {np.shape(y)}")
    if len(y) == 0 or y.min() == y.max():
        rate = (float(np.sum(y)) + 0.5) / (len(y) + 1.0)
        return MatchModel(np.zeros(len(MATCH_FEATURES), np.float32), math.log(rate / (1 - rate)))
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:  # training only
        raise ImportError("training the match model needs scikit-learn: pip install 'scikit-learn>=1.4'") from e
    x = x.astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-8, sd, 1.0)
    clf = LogisticRegression(C=c, max_iter=5000).fit((x - mu) / sd, y)
    w = clf.coef_[0] / sd
    return MatchModel(w.astype(np.float32), float(clf.intercept_[0] - (clf.coef_[0] * mu / sd).sum()),
                      info={"C": c, "n_train": len(y)})  # fmt: skip


def choose_threshold(p: np.ndarray, y: np.ndarray, min_precision: float = 0.95, min_pairs: int = 10) -> float:
    """Lowest P at which the pairs at or above it are at least `min_precision` right (and number at least
    `min_pairs`, so one lucky pair does not set it); 1.0 (nothing unreviewed) when none reaches it."""
    best = 1.0
    for t in sorted(set(np.round(p, 6).tolist()), reverse=True):
        sent = p >= t
        if sent.sum() >= min_pairs and y[sent].mean() >= min_precision:
            best = t
    return float(best)
