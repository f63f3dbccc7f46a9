"""How a learned ranker is trained: the recipes (`Variant`) eval/ranker_lab.py compares out of
fold, and the one eval/ranker.py ships (`SHIPPED`).

A recipe fixes the LightGBM parameters and rounds (or a linear listwise model), how queries
are weighted (`set`: every set weighs the same in total, so 112 resident questions are not
drowned by 877 notice and 516 legal ones), features dropped or derived per query, monotone
constraints, and `init_fused`: boosting starts from that multiple of the normalised fusion
score, so the trees learn corrections to the fusion rather than an order from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.ranking import FEATURES, LearnedRanker, rerank_top

COL = {f: i for i, f in enumerate(FEATURES)}


@dataclass
class QData:
    """One query's candidates: features, labels, the fusion score, stale and lookup flags, judged units."""

    X: np.ndarray
    y: np.ndarray
    fused: np.ndarray
    stale: np.ndarray
    looked: np.ndarray
    units: list[tuple[str, ...]]


def derive(X: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    cols = [X]
    if not len(X):
        return np.zeros((0, X.shape[1] + sum(_N_DERIVED[k] for k in kinds)))
    for k in kinds:
        if k == "z":  # per-query z-scores of the three scores
            for f in ("bm25_norm", "dense_norm", "fused"):
                v = X[:, COL[f]]
                sd = v.std()
                cols.append(((v - v.mean()) / sd if sd > 1e-9 else np.zeros_like(v))[:, None])
        elif k == "coll":  # which collection the query's best candidates are in
            top = np.argsort(-X[:, COL["fused"]], kind="stable")[:10]
            for f in ("is_ncp", "is_law"):
                share = float(X[top, COL[f]].mean())
                cols.append(np.full((len(X), 1), share))
                cols.append((X[:, COL[f]] * share + (1 - X[:, COL[f]]) * (1 - share))[:, None])
    return np.hstack(cols)


_N_DERIVED = {"z": 3, "coll": 4}


# ---------------------------------------------------------------- models
@dataclass(frozen=True)
class Variant:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    rounds: int = 150
    weights: str = "none"  # "none" | "set": every set weighs the same in total
    drop: tuple[str, ...] = ()
    derived: tuple[str, ...] = ()
    monotone: tuple[str, ...] = ()
    init_fused: float = 0.0  # boost from this times the normalised fusion score (the ranker blends with it)
    linear: bool = False
    rerank_top: int = 0  # score only the fusion's best N candidates (0: all); the rest stay below, in fusion order
    l2: float = 1.0


BASE_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "num_threads": 2,
    "verbose": -1,
    "seed": 0,
    "deterministic": True,
}
SMALL = {"num_leaves": 7, "min_data_in_leaf": 200, "learning_rate": 0.05}
MONO = ("bm25_norm", "dense_norm", "fused", "doc_fused_top3")
VARIANTS = {
    v.name: v
    for v in (
        Variant("base"),
        Variant("setw", weights="set"),
        Variant("no_ncp", drop=("is_ncp",)),
        Variant("setw_no_ncp", weights="set", drop=("is_ncp",)),
        Variant("coll", weights="set", derived=("coll",)),
        Variant("z", weights="set", derived=("z",)),
        Variant("small", weights="set", params=SMALL, rounds=60),
        Variant("mono", weights="set", monotone=MONO),
        Variant("blend", weights="set", init_fused=4.0, params=SMALL, rounds=60),
        Variant("blend_mono", weights="set", init_fused=4.0, params=SMALL, rounds=60, monotone=MONO),
        Variant("linear", weights="set", linear=True),
        Variant("setw_top100", weights="set", rerank_top=100),
        Variant("setw_top50", weights="set", rerank_top=50),
        Variant("linear_z", weights="set", linear=True, derived=("z", "coll")),
    )
}


def _cols(v: Variant) -> list[int]:
    n = len(FEATURES) + sum(_N_DERIVED[k] for k in v.derived)
    dropped = {COL[f] for f in v.drop}
    return [i for i in range(n) if i not in dropped]


class Model:
    def __init__(self, v: Variant) -> None:
        self.v = v
        self.cols = _cols(v)

    def prep(self, q: QData) -> np.ndarray:
        return derive(q.X, self.v.derived)[:, self.cols]

    def fit(self, qs: list[QData], w: list[float]) -> Model:
        if self.v.rerank_top:
            qs = [_top_rows(q, self.v.rerank_top) for q in qs]
        keep = [i for i, q in enumerate(qs) if len(q.y) and q.y.max() > 0]
        Xs = [self.prep(qs[i]) for i in keep]
        ys = [qs[i].y for i in keep]
        ws = [w[i] for i in keep]
        if self.v.linear:
            self._fit_linear(Xs, ys, ws, [self.v.init_fused * qs[i].X[:, COL["fused"]] for i in keep])
            return self
        import lightgbm as lgb

        params = {**BASE_PARAMS, **self.v.params}
        if self.v.monotone:
            names = [(list(FEATURES) + [f"d{j}" for j in range(20)])[c] for c in self.cols]
            params["monotone_constraints"] = [1 if n in self.v.monotone else 0 for n in names]
            params["monotone_constraints_method"] = "advanced"
        ds = lgb.Dataset(
            np.concatenate(Xs),
            np.concatenate(ys),
            group=[len(y) for y in ys],
            weight=np.concatenate([np.full(len(y), wi) for y, wi in zip(ys, ws, strict=True)]),
            init_score=np.concatenate([self.v.init_fused * qs[i].X[:, COL["fused"]] for i in keep])
            if self.v.init_fused
            else None,
            free_raw_data=True,
        )
        self.booster = lgb.train(params, ds, num_boost_round=self.v.rounds)
        return self

    def _fit_linear(
        self, Xs: list[np.ndarray], ys: list[np.ndarray], ws: list[float], offsets: list[np.ndarray]
    ) -> None:
        """Listwise softmax cross-entropy (ListNet, gains 2^y - 1), L2-regularised, by L-BFGS."""
        from scipy.optimize import minimize

        allX = np.concatenate(Xs)
        # a feature constant in training (has_dense) gets scale 1 and, with no gradient, weight 0
        sd = allX.std(0)
        self.mu, self.sd = allX.mean(0), np.where(sd > 1e-6, sd, 1.0)
        Zs = [(X - self.mu) / self.sd for X in Xs]
        Ps = [(2.0**y - 1) / (2.0**y - 1).sum() for y in ys]
        wsum = float(sum(ws))

        def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
            total, grad = 0.0, np.zeros_like(beta)
            for Z, P, wi, off in zip(Zs, Ps, ws, offsets, strict=True):
                s = Z @ beta + off
                s = s - s.max()
                e = np.exp(s)
                sm = e / e.sum()
                total -= wi * float(P @ (s - np.log(e.sum())))
                grad -= wi * (Z.T @ (P - sm))
            return total / wsum + self.v.l2 * 0.5 * float(beta @ beta) / 100, grad / wsum + self.v.l2 * beta / 100

        res = minimize(loss, np.zeros(allX.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 300})
        self.beta = res.x

    def score(self, q: QData) -> np.ndarray:
        if self.v.rerank_top:
            return rerank_top(q.X[:, COL["fused"]], self.v.rerank_top, lambda rows: self._score(_sub(q, rows)))
        return self._score(q)

    def _score(self, q: QData) -> np.ndarray:
        X = self.prep(q)
        if not len(X):
            return np.zeros(0)
        if self.v.linear:
            s = ((X - self.mu) / self.sd) @ self.beta
            return s + self.v.init_fused * q.X[:, COL["fused"]] if self.v.init_fused else s
        s = self.booster.predict(X)
        return s + self.v.init_fused * q.X[:, COL["fused"]] if self.v.init_fused else s


def top_rows(fused: np.ndarray, n: int) -> np.ndarray:
    """The fusion's best n candidates (stable on ties), as index.ranking.rerank_top takes them."""
    return np.argsort(-fused, kind="stable")[:n]


def _sub(q: QData, rows: np.ndarray) -> QData:
    return QData(q.X[rows], q.y[rows] if len(q.y) else q.y, q.fused, q.stale, q.looked, [])


def _top_rows(q: QData, n: int) -> QData:
    return _sub(q, top_rows(q.X[:, COL["fused"]], n)) if len(q.X) else q


def query_weights(set_sizes: Sequence[int], scheme: str) -> list[float]:
    """Weight of a query of each set: 1, or (scheme "set") total / (sets * size of its set)."""
    n_total = sum(set_sizes)
    return [n_total / (len(set_sizes) * n) if scheme == "set" else 1.0 for n in set_sizes]


def to_ranker(model: Model, info: dict[str, Any] | None = None) -> LearnedRanker:
    """The serving artifact of a fitted model (features as the engine computes them, none derived)."""
    v = model.v
    if v.derived or v.drop:
        raise ValueError(f"recipe {v.name} derives or drops features; the engine computes exactly FEATURES")
    if v.linear:
        return LearnedRanker(
            "", FEATURES, info, v.init_fused, {"mean": model.mu, "scale": model.sd, "weights": model.beta}, v.rerank_top
        )
    return LearnedRanker(model.booster.model_to_string(), FEATURES, info, v.init_fused, rerank_top=v.rerank_top)
