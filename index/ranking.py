"""Learned ranking of the hybrid candidates: features the retrievers already computed -> one score.

`Candidates` is what one query's retrieval produced before ordering (rows, raw BM25 and
dense scores, today's fused score, the rows a 文号 / title lookup named). `features`
turns it into one row of numbers per candidate passage: its own scores (normalised over
the candidates), the same aggregated over its document (max, sum of the best three,
how many of its passages are candidates), how much of the query's IDF its title and
heading path cover, lookup hit, status, age, position, length and collection.

`LearnedRanker` scores those rows with a LambdaMART model (LightGBM; or a linear one;
optionally only the fusion's best N candidates, `rerank_top`) stored inside a small JSON
artifact (`index/resources/ranker.json`, never pickle; scored with numpy, so serving never
imports LightGBM), rebuilt by `python -m eval train-ranker` (eval/ranker.py), which trains it
only through cross-validation grouped by query. The fixed-weight fusion stays the fallback.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document, Passage, Status

__all__ = ["Candidates", "FEATURES", "FeatureExtractor", "LearnedRanker", "DEFAULT_RANKER_PATH"]

logger = logging.getLogger(__name__)

DEFAULT_RANKER_PATH = Path(__file__).parent / "resources" / "ranker.json"
ARTIFACT_FORMAT = 1

FEATURES: tuple[str, ...] = (
    "bm25_norm",  # BM25 min-max normalised over the candidates
    "bm25_match",  # BM25 / summed IDF of the query's terms (how much of the query the passage repeats)
    "dense_norm",  # cosine min-max normalised over the candidates (0 without an encoder)
    "dense_gap",  # cosine minus the best candidate's cosine
    "fused",  # today's fixed-weight fusion, min-max normalised over the candidates
    "bm25_rank",  # 1 / log2(1 + rank) among the candidates, per side and fused
    "dense_rank",
    "fused_rank",
    "doc_bm25_max",  # the same signals over the passage's document
    "doc_dense_max",
    "doc_fused_top3",  # sum of the document's three best fused scores
    "doc_n_cands",  # log(1 + candidate passages of the document)
    "doc_best",  # 1 if this is its document's best fused passage
    "title_cover",  # share of the query's IDF whose terms appear in the document title
    "heading_cover",  # ... in the passage's heading path
    "lookup",  # the document was named by 文号 or title
    "stale",  # expired or superseded
    "year",  # (year of effective or publish date - 2000) / 25; 0 when unknown
    "no_date",
    "position",  # log(1 + passage position in its document)
    "length",  # passage characters / 300
    "is_law",  # a law or regulation version assembled from articles
    "is_ncp",  # a 2020 epidemic notice
    "has_dense",  # the index has an encoder
    "query_match",  # query-level: best BM25 / summed IDF (lexical questions vs colloquial ones)
    "query_terms",  # log(1 + informative query terms)
)
_COL = {f: i for i, f in enumerate(FEATURES)}
_YEAR = re.compile(r"^(\d{4})")


@dataclass(frozen=True)
class Candidates:
    """One query's candidate passages as retrieval left them (arrays aligned with `rows`)."""

    rows: np.ndarray
    bm25: np.ndarray
    dense: np.ndarray | None
    fused: np.ndarray
    looked_up: np.ndarray  # bool per candidate
    query_idf: Mapping[str, float]  # informative query terms and their IDF


def _rank_feature(x: np.ndarray) -> np.ndarray:
    order = np.argsort(-x, kind="stable")
    r = np.empty(len(x), dtype=np.float64)
    r[order] = np.arange(1, len(x) + 1)
    return 1.0 / np.log2(1.0 + r)


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return np.ones_like(x) if hi - lo < 1e-12 else (x - lo) / (hi - lo)


class FeatureExtractor:
    """Builds feature rows. Vectorised per candidate, one pass per distinct document; title and
    heading coverage test each query term as a substring (jieba on every candidate's title cost
    more than the whole search)."""

    def features(self, c: Candidates, passages: Sequence[Passage], documents: Mapping[str, Document]) -> np.ndarray:
        n = len(c.rows)
        X = np.zeros((n, len(FEATURES)), dtype=np.float64)
        if n == 0:
            return X
        col = _COL
        bm = c.bm25.astype(np.float64)
        terms = [(t.lower(), w) for t, w in c.query_idf.items()]
        idf_total = float(sum(w for _, w in terms))
        X[:, col["bm25_norm"]] = _minmax(bm)
        X[:, col["bm25_match"]] = bm / idf_total if idf_total > 0 else 0.0
        X[:, col["bm25_rank"]] = np.where(bm > 0, _rank_feature(bm), 0.0)
        if c.dense is not None:
            dn = c.dense.astype(np.float64)
            X[:, col["dense_norm"]] = _minmax(dn)
            X[:, col["dense_gap"]] = dn - dn.max()
            X[:, col["dense_rank"]] = _rank_feature(dn)
            X[:, col["has_dense"]] = 1.0
        # normalised too: without an encoder the "fusion" is raw BM25, on another scale
        fused = _minmax(c.fused.astype(np.float64))
        X[:, col["fused"]] = fused
        X[:, col["fused_rank"]] = _rank_feature(fused)
        X[:, col["lookup"]] = c.looked_up.astype(np.float64)
        X[:, col["query_match"]] = float(bm.max()) / idf_total if idf_total > 0 else 0.0
        X[:, col["query_terms"]] = math.log1p(len(terms))

        def cover(text: str) -> float:
            low = text.lower()
            return sum(w for t, w in terms if t in low) / idf_total if idf_total > 0 else 0.0

        ps = [passages[int(r)] for r in c.rows]
        doc_ids, inv = np.unique(np.asarray([p.doc_id for p in ps], dtype=object), return_inverse=True)
        # per document: max of each side, number of candidates, sum of its three best fused, best passage
        n_docs = len(doc_ids)
        for name, src in (("doc_bm25_max", "bm25_norm"), ("doc_dense_max", "dense_norm")):
            m = np.zeros(n_docs)
            np.maximum.at(m, inv, X[:, col[src]])
            X[:, col[name]] = m[inv]
        counts = np.bincount(inv, minlength=n_docs)
        X[:, col["doc_n_cands"]] = np.log1p(counts[inv])
        order = np.lexsort((-fused, inv))  # by document, best fused first
        first = np.r_[0, np.cumsum(counts)[:-1]]
        rank_in_doc = np.empty(n, dtype=np.int64)
        rank_in_doc[order] = np.arange(n) - first[inv[order]]
        X[:, col["doc_best"]] = rank_in_doc == 0
        top3 = np.zeros(n_docs)
        np.add.at(top3, inv, np.where(rank_in_doc < 3, fused, 0.0))
        X[:, col["doc_fused_top3"]] = top3[inv]
        per_doc = np.zeros((n_docs, 6))
        for j, doc_id in enumerate(doc_ids):
            doc = documents.get(doc_id)
            if doc is None:
                continue
            m = _YEAR.match(doc.effective_date or doc.publish_date or "")
            per_doc[j] = (
                cover(doc.title),
                doc.status in (Status.EXPIRED, Status.SUPERSEDED),
                (int(m.group(1)) - 2000) / 25.0 if m else 0.0,
                m is None,
                "law_id" in doc.metadata,
                (doc.collection or "").startswith("ncp"),
            )
        for k, name in enumerate(("title_cover", "stale", "year", "no_date", "is_law", "is_ncp")):
            X[:, col[name]] = per_doc[inv, k]
        # once per distinct heading path: a law's articles share a few chapter headings
        seen: dict[tuple[str, ...], float] = {(): 0.0}
        X[:, col["heading_cover"]] = [
            seen[h] if (h := tuple(p.heading_path)) in seen else seen.setdefault(h, cover(" ".join(h))) for p in ps
        ]
        X[:, col["position"]] = np.log1p([p.position for p in ps])
        X[:, col["length"]] = np.asarray([len(p.text) for p in ps]) / 300.0
        return X


class LearnedRanker:
    """A model over `FEATURES`; `score` maps feature rows to one score each.

    Two kinds, one artifact format. "trees": LambdaMART (LightGBM) scored by `TreeEnsemble`
    (numpy, from LightGBM's text dump): importing LightGBM in the serving process would add
    ~160 MB (it pulls in scikit-learn, pandas and scipy) for a walk down small trees; LightGBM
    is only needed to train (eval/ranker.py). "linear": one weight per standardised feature.
    `blend_fused` adds that multiple of the normalised fusion score (`fused`): a model trained
    to correct the fusion starts from it (LightGBM's init_score) and is scored the same way.
    """

    def __init__(
        self,
        model_text: str,
        features: Sequence[str],
        info: Mapping[str, Any] | None = None,
        blend_fused: float = 0.0,
        linear: Mapping[str, Sequence[float]] | None = None,
        rerank_top: int = 0,
    ) -> None:
        if tuple(features) != FEATURES:
            raise ValueError(
                f"ranker was trained on features {list(features)}, this code computes {list(FEATURES)}; "
                "retrain it with `python -m eval train-ranker`"
            )
        self.model_text = model_text
        self.info = dict(info or {})
        self.blend_fused = float(blend_fused)
        if rerank_top < 0:
            raise ValueError(f"rerank_top must be >= 0, got {rerank_top}")
        self.rerank_top = int(rerank_top)
        self._trees: TreeEnsemble | None = None
        self.linear: dict[str, list[float]] | None = None
        if linear is not None:
            parts = {k: np.asarray(linear.get(k, ()), dtype=np.float64) for k in ("mean", "scale", "weights")}
            if any(v.shape != (len(FEATURES),) for v in parts.values()) or (parts["scale"] <= 0).any():
                raise ValueError(f"a linear ranker needs mean, scale (> 0) and weights of {len(FEATURES)} features")
            self.linear = {k: v.tolist() for k, v in parts.items()}
            # one vector: ((X - mean) / scale) @ w == X @ (w / scale) - mean @ (w / scale)
            self._w = parts["weights"] / parts["scale"]
            self._b = -float(parts["mean"] @ self._w)
        else:
            self._trees = TreeEnsemble.from_lightgbm(model_text, len(FEATURES))

    @classmethod
    def linear_model(
        cls,
        mean: Sequence[float],
        scale: Sequence[float],
        weights: Sequence[float],
        info: Mapping[str, Any] | None = None,
        blend_fused: float = 0.0,
    ) -> LearnedRanker:
        return cls("", FEATURES, info, blend_fused, {"mean": mean, "scale": scale, "weights": weights})

    @property
    def kind(self) -> str:
        return "linear" if self.linear is not None else "trees"

    def score(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != len(FEATURES):
            raise ValueError(f"feature rows must have shape (n, {len(FEATURES)}), got {X.shape}")
        if self.rerank_top and len(X) > self.rerank_top:
            return rerank_top(X[:, _COL["fused"]], self.rerank_top, lambda rows: self._raw(X[rows]))
        return self._raw(X)

    def _raw(self, X: np.ndarray) -> np.ndarray:
        s = X @ self._w + self._b if self._trees is None else self._trees.predict(X)
        return s + self.blend_fused * X[:, _COL["fused"]] if self.blend_fused else s

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": ARTIFACT_FORMAT, "kind": self.kind, "features": list(FEATURES)}
        d["info"] = self.info
        if self.blend_fused:
            d["blend_fused"] = self.blend_fused
        if self.rerank_top:
            d["rerank_top"] = self.rerank_top
        if self.linear is not None:
            d["linear"] = self.linear
        else:
            d["model"] = self.model_text
        return d

    def save(self, path: str | Path) -> None:
        """Atomic write of the JSON artifact."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> LearnedRanker:
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:  # missing, unreadable or not JSON
            raise ValueError(f"ranker artifact {path} unreadable: {e}") from e
        kind = d.get("kind", "trees") if isinstance(d, dict) else None
        ok = isinstance(d, dict) and d.get("format") == ARTIFACT_FORMAT
        ok = ok and (
            (kind == "trees" and isinstance(d.get("model"), str))
            or (kind == "linear" and isinstance(d.get("linear"), dict))
        )
        if not ok:
            raise ValueError(
                f"ranker artifact {path} is not format {ARTIFACT_FORMAT} with a model text or linear weights"
            )
        blend, top = float(d.get("blend_fused", 0.0)), int(d.get("rerank_top", 0))
        if kind == "linear":
            return cls("", d.get("features") or (), d.get("info"), blend, d["linear"], top)
        return cls(d["model"], d.get("features") or (), d.get("info"), blend, rerank_top=top)


class TreeEnsemble:
    """Regression trees as padded arrays (tree x node), evaluated for all rows and trees at once.

    Node ids per tree: internal nodes 0..K-1, then leaves K.. (LightGBM's leaf ~c). Numerical
    splits only: left when x <= threshold; a missing value (NaN, or zero for zero-as-missing
    splits) takes the default side. Every split is compared once up front; leaves point to
    themselves, so a fixed number of levels (the deepest tree's depth) of two gathers each
    walks every tree for every row.
    """

    _ZERO = 1e-35  # LightGBM's kZeroThreshold

    def __init__(self, feature, threshold, left, right, default_left, missing, value, depth: int, k_in: int) -> None:
        self.feature, self.threshold, self.left, self.right = feature, threshold, left, right
        self.default_left, self.missing, self.value, self.depth = default_left, missing, value, depth
        self._any_missing = bool(missing.any())
        self.k_in = k_in  # internal node slots per tree; leaf ids start here

    @classmethod
    def from_lightgbm(cls, text: str, n_features: int) -> TreeEnsemble:
        trees: list[dict[str, str]] = []
        for block in re.split(r"\n(?=Tree=\d+\n)", text)[1:]:
            body = block.split("\n\n", 1)[0]
            trees.append(dict(line.split("=", 1) for line in body.splitlines() if "=" in line))
        if not trees:
            raise ValueError("ranker model has no trees")
        k_in = max(max(int(t["num_leaves"]) - 1, 1) for t in trees)
        size = k_in + max(int(t["num_leaves"]) for t in trees)
        n_t = len(trees)
        feature = np.zeros((n_t, size), np.int64)
        threshold = np.full((n_t, size), np.inf)  # leaves: always "left", which is themselves
        left = np.tile(np.arange(size), (n_t, 1))
        right = left.copy()
        default_left = np.ones((n_t, size), bool)
        missing = np.zeros((n_t, size), np.int64)  # 0 none, 1 zero, 2 NaN
        value = np.zeros((n_t, size))
        depth = 1
        for i, t in enumerate(trees):
            vals = np.array(t["leaf_value"].split(), dtype=np.float64)
            value[i, k_in : k_in + len(vals)] = vals
            if int(t["num_leaves"]) <= 1:
                left[i, 0] = right[i, 0] = k_in  # the root is leaf 0
                continue
            dt = np.array(t["decision_type"].split(), dtype=np.int64)
            if (dt & 1).any():
                raise ValueError("ranker model has categorical splits, which this scorer does not read")
            k = len(dt)
            feature[i, :k] = np.array(t["split_feature"].split(), dtype=np.int64)
            threshold[i, :k] = np.array(t["threshold"].split(), dtype=np.float64)
            for side, arr in (("left_child", left), ("right_child", right)):
                ch = np.array(t[side].split(), dtype=np.int64)
                arr[i, :k] = np.where(ch >= 0, ch, k_in + ~ch)
            default_left[i, :k] = (dt & 2) > 0
            missing[i, :k] = (dt >> 2) & 3
            depth = max(depth, _depth(left[i], right[i], k_in))
        if feature.max() >= n_features:
            raise ValueError(f"ranker model splits on feature {int(feature.max())}, only {n_features} exist")
        return cls(feature, threshold, left, right, default_left, missing, value, depth, k_in)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        n = len(X)
        if n == 0:
            return np.zeros(0)
        n_t, size = self.value.shape
        k = self.k_in
        xg = X[:, self.feature[:, :k].ravel()]  # (rows, trees * splits): every split's input, once
        split_go = xg <= self.threshold[:, :k].ravel()
        if self._any_missing:
            miss = self.missing[:, :k].ravel()
            is_missing = ((miss == 2) & np.isnan(xg)) | ((miss == 1) & (np.abs(xg) <= self._ZERO))
            split_go = np.where(is_missing, self.default_left[:, :k].ravel(), split_go)
        go3 = np.ones((n, n_t, size), bool)  # leaves: "left", i.e. stay
        go3[:, :, :k] = split_go.reshape(n, n_t, k)
        go = go3.ravel()
        tree_base = np.repeat(np.arange(n_t) * size, n)  # element = (tree, row), tree-major
        cell_base = np.tile(np.arange(n) * (n_t * size), n_t) + tree_base
        left, right = self.left.ravel(), self.right.ravel()
        node = np.zeros(n_t * n, np.int64)
        for _ in range(self.depth):
            at = tree_base + node
            node = np.where(go[cell_base + node], left[at], right[at])
        return self.value.ravel()[tree_base + node].reshape(n_t, n).sum(axis=0)


def _depth(left: np.ndarray, right: np.ndarray, k_in: int) -> int:
    """Levels from the root to the deepest leaf of one tree (internal ids < k_in)."""
    best, stack = 0, [(0, 1)]
    while stack:
        nd, d = stack.pop()
        for ch in (left[nd], right[nd]):
            if ch < k_in:
                stack.append((int(ch), d + 1))
            else:
                best = max(best, d)
    return best


_SHARED: dict[str, LearnedRanker | None] = {}


def load_shared(path: str | Path) -> LearnedRanker | None:
    """The ranker at `path`, loaded once per process and shared by every index; None (logged once)
    when it cannot be read, so search falls back to the fusion."""
    key = str(path)
    if key not in _SHARED:
        try:
            _SHARED[key] = LearnedRanker.load(path)
        except (ValueError, ImportError) as e:
            logger.warning("learned ranker unavailable, ordering by fusion: %s", e)
            _SHARED[key] = None
    return _SHARED[key]


def rerank_top(fused: np.ndarray, n: int, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`score(rows)` for the fusion's best n candidates (`fused` min-max normalised, ties stable); every
    other candidate below all of them, in fusion order. The trees walk n rows instead of ~400."""
    rows = np.argsort(-fused, kind="stable")[:n]
    s = score(rows)
    out = (float(s.min()) if len(s) else 0.0) - 1.0 + 0.5 * fused
    out[rows] = s
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Ranker scores into (0, 1), so the stale penalty (a factor) and lookup bonus apply as to fusion."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))
