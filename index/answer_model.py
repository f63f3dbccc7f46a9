"""The two small learned models of answering, stored as JSON weights (no pickle):

- the sentence ranker: P(this candidate sentence contains the answer | question, features);
- the support model: P(the answer is supported by the corpus | retrieval and selection features),
  with the abstention threshold chosen out of fold.

Both are standardised logistic regressions trained by `python -m eval answers train`
(eval/answer_train.py) on ncp-dev + resident-qa-dev answer spans, grouped by document.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

RANKER_RESOURCE = "answer_ranker.json"
SUPPORT_RESOURCE = "answer_support.json"

# Per candidate sentence; computed from the question, the sentence and its passage's hit (no model call).
SENTENCE_FEATURES = (
    "cov",  # IDF-weighted share of the query terms in the sentence
    "bm25",  # BM25 of the query terms against the sentence, saturated
    "context_cov",  # share of the query terms in title + heading path
    "heading_cov",  # share in the nearest section title before the sentence
    "rel",  # passage retrieval score / best
    "inv_rank",  # 1 / (1 + passage rank)
    "dense",  # e5 cosine of the question and the passage
    "position",  # unit index in the passage, saturated
    "type_match",  # the sentence is of a type the question asks for
    "type_miss",  # the question asks for a type, the sentence is of none of them
    "has_amount",  # a number with 元/%/日/月/年
    "length",  # log length
    "in_force",
    "interpretation",  # from a 解读
    "cover_note",  # "现印发给你们" and the like
    "lead_in",  # a list with its lead-in
    "item",  # a list item prefixed with its lead-in
    "rule",  # the hand-weighted score used before the ranker
)

SUPPORT_FEATURES = (
    "top_prob",  # ranker probability of the best sentence
    "second_prob",
    "rule_conf",  # the hand-weighted confidence used before the model
    "coverage_top",
    "coverage_answer",
    "specificity",
    "missing_max",
    "dense",
    "dense_gap",  # best passage cosine minus the 5th
    "doc_share",  # share of the top 5 passages from the first cited document
    "n_terms",
)


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float | None = None  # the support model's abstention threshold
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n):
            raise ValueError(f"model needs {n} means, scales and coefficients")

    def logit(self, x: Mapping[str, float]) -> float:
        z = self.intercept
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += c * (float(x.get(name, 0.0)) - m) / (s or 1.0)
        return z

    def prob(self, x: Mapping[str, float]) -> float:
        z = self.logit(x)
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0

    def to_json(self) -> dict:
        return {
            "kind": "standardised-logistic",
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
            "threshold": self.threshold,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, raw: Mapping) -> LogisticModel:
        if raw.get("kind") != "standardised-logistic":
            raise ValueError(f"unknown answer model kind {raw.get('kind')!r}")
        return cls(
            tuple(raw["features"]),
            tuple(float(v) for v in raw["mean"]),
            tuple(float(v) for v in raw["scale"]),
            tuple(float(v) for v in raw["coef"]),
            float(raw["intercept"]),
            None if raw.get("threshold") is None else float(raw["threshold"]),
            dict(raw.get("meta", {})),
        )

    def save(self, path: Path) -> None:
        """Atomic: written beside `path` and renamed into place."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, ensure_ascii=False, indent=1)
        os.chmod(tmp, 0o644)  # a shipped resource, readable like the rest of the tree (mkstemp makes 0600)
        os.replace(tmp, path)


def load_model(path: Path | None, resource: str) -> LogisticModel | None:
    """The model at `path`, else the shipped resource, else None (rules are used)."""
    if path is not None:
        return LogisticModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    res = resources.files("index") / "resources" / resource
    if not res.is_file():
        return None
    return LogisticModel.from_json(json.loads(res.read_text(encoding="utf-8")))


def fit_logistic(
    rows: Sequence[Mapping[str, float]], labels: Sequence[int], features: Sequence[str], c: float = 1.0
) -> LogisticModel:
    """Standardise, then an L2 logistic regression (scikit-learn, a training-time dependency only)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.asarray([[float(r.get(f, 0.0)) for f in features] for r in rows], dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=2000)
    lr.fit((x - mean) / scale, np.asarray(labels))
    return LogisticModel(
        tuple(features),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in lr.coef_[0]),
        float(lr.intercept_[0]),
    )
