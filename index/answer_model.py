"""The two small learned models of answering, stored as JSON weights (no pickle):

- the sentence ranker: P(this candidate sentence contains the answer | question, features);
- the support model: P(the answer is supported by the corpus | retrieval and selection features),
  with the abstention threshold chosen out of fold.

The ranker is a standardised logistic regression or LightGBM trees (`TreeModel`: the text dump in
JSON, scored in numpy by index.ranking's reader), whichever `python -m eval answers train`
(eval/answer_train.py) finds better out of fold on ncp-dev + resident-qa-dev answer spans, folds
grouped by document. The support model is a standardised logistic regression.
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

# Per candidate sentence; computed from the question, the sentence and its passage's hit (no model call).
# The features the ranker had before the question-type ones (the reference `eval answers train` reports).
BASE_SENTENCE_FEATURES = (
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
SENTENCE_FEATURES = BASE_SENTENCE_FEATURES + (
    # question type x sentence: index.query_terms types, index.selection
    "sent_type",  # the sentence itself says something of an asked type
    "head_type",  # its nearest section title names an asked type ("二、所需材料" for 材料)
    "path_type",  # the passage's heading path names one
    "title_type",  # the document title names one ("收费标准")
    "head_item",  # a list item (or whole list) under such a title
    "listed",  # a list item or a whole list
    "asked_money",  # 金额 asked and an amount of money / a share present
    "asked_time",  # 时限 asked and a duration or date present
    "asked_place",  # 地点 asked and a phone number / address present
    "q_types",  # how many types the question asks for
    "grams",  # share of the question's word bigrams in the sentence
    "doc_first",  # from the top passage's document
    "cov_rel",  # cov / the question's best candidate's cov
    "bm25_rel",
    "grams_rel",
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

    def prob_many(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        return [self.prob(x) for x in rows]

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


@dataclass(frozen=True)
class TreeModel:
    """Gradient-boosted trees (LightGBM's text dump) over named features; `prob` is the sigmoid of
    the summed leaves. Scored with numpy by `index.ranking.TreeEnsemble`, like the retrieval ranker,
    so serving never imports LightGBM."""

    features: tuple[str, ...]
    model_text: str
    threshold: float | None = None
    meta: Mapping[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        from index.ranking import TreeEnsemble

        object.__setattr__(self, "_trees", TreeEnsemble.from_lightgbm(self.model_text, len(self.features)))

    def raw_many(self, rows: Sequence[Mapping[str, float]]):
        import numpy as np

        x = np.asarray([[float(r.get(f, 0.0)) for f in self.features] for r in rows], dtype=np.float64)
        return self._trees.predict(x.reshape(len(rows), len(self.features)))  # type: ignore[attr-defined]

    def prob_many(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        import numpy as np

        z = np.clip(self.raw_many(rows), -50.0, 50.0)
        return [float(v) for v in 1.0 / (1.0 + np.exp(-z))]

    def prob(self, x: Mapping[str, float]) -> float:
        return self.prob_many([x])[0]

    def to_json(self) -> dict:
        return {
            "kind": "lightgbm-trees",
            "features": list(self.features),
            "model": self.model_text,
            "threshold": self.threshold,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, raw: Mapping) -> TreeModel:
        if raw.get("kind") != "lightgbm-trees" or not isinstance(raw.get("model"), str):
            raise ValueError(f"unknown answer model kind {raw.get('kind')!r}")
        thr = raw.get("threshold")
        return cls(tuple(raw["features"]), raw["model"], None if thr is None else float(thr), dict(raw.get("meta", {})))

    save = LogisticModel.save


AnswerModel = LogisticModel | TreeModel


def model_from_json(raw: Mapping) -> AnswerModel:
    return TreeModel.from_json(raw) if raw.get("kind") == "lightgbm-trees" else LogisticModel.from_json(raw)


def load_model(path: Path | None, resource: str) -> AnswerModel | None:
    """The model at `path`, else the shipped resource, else None (rules are used)."""
    if path is not None:
        return model_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    res = resources.files("index") / "resources" / resource
    if not res.is_file():
        return None
    return model_from_json(json.loads(res.read_text(encoding="utf-8")))


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


def fit_trees(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    groups: Sequence[int],
    features: Sequence[str],
    objective: str = "lambdarank",
    rounds: int = 200,
) -> TreeModel:
    """LightGBM (a training-time dependency only): lambdarank over each question's candidates
    (`groups`: candidates per question, in order), or binary."""
    import lightgbm as lgb
    import numpy as np

    x = np.asarray([[float(r.get(f, 0.0)) for f in features] for r in rows], dtype=np.float64)
    params = {
        "objective": objective,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "verbose": -1,
        "num_threads": 1,
        "seed": 1,
        "deterministic": True,
    }
    ds = lgb.Dataset(x, np.asarray(labels), group=list(groups) if objective == "lambdarank" else None)
    booster = lgb.train(params, ds, rounds)
    return TreeModel(tuple(features), booster.model_to_string())
