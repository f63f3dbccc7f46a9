"""Fusing lexical and dense rankings. Pure functions over arrays of candidate scores.

Scores of different retrievers live on different scales (BM25 is unbounded, cosine
sits in a narrow band), so score fusion always normalises each side first.
"""

from __future__ import annotations

import numpy as np


def minmax(x: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector maps to all ones (every candidate equally good)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 1e-12:
        return np.ones_like(x)
    return (x - lo) / (hi - lo)


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based rank of each entry by descending score (ties broken by position)."""
    order = np.argsort(-np.asarray(x), kind="stable")
    r = np.empty(len(order), dtype=np.int64)
    r[order] = np.arange(1, len(order) + 1)
    return r


def rrf(side_ranks: list[np.ndarray], weights: list[float], k: int = 60) -> np.ndarray:
    """Weighted reciprocal-rank fusion: sum_i w_i / (k + rank_i). A rank of 0 means "not retrieved"."""
    if len(side_ranks) != len(weights):
        raise ValueError(f"got {len(side_ranks)} rankings but {len(weights)} weights")
    out = np.zeros(len(side_ranks[0]), dtype=np.float64)
    for r, w in zip(side_ranks, weights, strict=True):
        r = np.asarray(r)
        out += np.where(r > 0, w / (k + np.maximum(r, 1)), 0.0)
    return out


def convex(lexical: np.ndarray, dense: np.ndarray, lexical_weight: float) -> np.ndarray:
    """w * minmax(lexical) + (1 - w) * minmax(dense)."""
    if not 0.0 <= lexical_weight <= 1.0:
        raise ValueError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
    return lexical_weight * minmax(lexical) + (1.0 - lexical_weight) * minmax(dense)
