"""P(match) out of fold: pair rows of labelled documents, the calibrated pair model, auto-send figures.

Every pair the rule produces from a document's (out-of-fold) labels is a row
(`corpus.push.match_model.pair_features`), positive when it is a gold pair. In each outer fold
the pair model is fitted on the training part's inner out-of-fold pairs (so its inputs look
like those of unseen documents) and its auto-send threshold chosen there for precision >= 0.95;
the held-out fold's pairs are then scored. Reported:

- pair level (`auto_pairs_*`): pairs at or above the threshold go out, the rest wait;
- document level (`auto_precision`, `auto_share`: what `qa_service.push.gate` does): a document
  goes out unreviewed only when every one of its pairs is at or above the threshold; the
  precision of those pairs, and their true pairs as a share of all gold pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from corpus.push.match_model import MATCH_FEATURES, MatchModel, choose_threshold, fit_match_model, pair_features
from corpus.push.matching import match
from corpus.push.targeting import Targeting
from eval.push import PushSet

MIN_PRECISION = 0.95
MATCH_C = 0.3
# Pair features left out of the shipped P(match): the training pairs' document confidence comes from a
# confidence model fitted on those same documents (in sample), so it looks surer there than on unseen
# documents. `ALTERNATIVE_DROP` is measured beside it in the same run (`pmatch_alternative`).
MATCH_DROP: tuple[str, ...] = ("logit_confidence",)
ALTERNATIVE_DROP: tuple[str, ...] = ()


def pair_rows(
    data: PushSet, pred: dict[str, Targeting], ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(n, len(MATCH_FEATURES)) features, (n,) gold 0/1 and the document of each pair the rule produces."""
    rows, y, docs = [], [], []
    for doc_id in ids:
        t = pred[doc_id]
        for p in data.profiles:
            reason = match(p, t)
            if reason is None:
                continue
            rows.append(pair_features(p.kind.value, reason, t))
            y.append((p.profile_id, doc_id) in data.gold_pairs)
            docs.append(doc_id)
    x = np.stack(rows) if rows else np.zeros((0, len(MATCH_FEATURES)), np.float32)
    return x, np.asarray(y, dtype=np.int8), docs


def fit_pairs(
    data: PushSet, pred: dict[str, Targeting], ids: Sequence[str], drop: Sequence[str] = MATCH_DROP
) -> MatchModel:
    """The calibrated pair model and its auto threshold from (inner out-of-fold) labels of `ids`; the
    `drop` features are zeroed, so their weights are 0 and the shipped feature layout stays one."""
    x, y, _ = pair_rows(data, pred, ids)
    x[:, [MATCH_FEATURES.index(f) for f in drop]] = 0.0
    model = fit_match_model(x, y, MATCH_C)
    t = choose_threshold(model.predict(x), y, MIN_PRECISION) if len(y) else 1.0
    info = {**model.info, "min_precision": MIN_PRECISION, "dropped": list(drop)}
    return MatchModel(model.weights, model.bias, t, info)


def auto_figures(
    p: np.ndarray,
    y: np.ndarray,
    docs: list[str],
    t: float | np.ndarray,
    n_gold: int,
    floors: np.ndarray | None = None,
) -> dict[str, Any]:
    """Pair- and document-level auto-send precision and share at threshold t (see module doc); t may
    be one threshold per pair (each outer fold's own, constant within a document). With `floors`
    (per pair, `MatchModel.floor` of its document: what the gate reads) a document goes out when its
    floor reaches t; `auto_*_actual` is the same with the lowest P among the pairs it does produce."""
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), p.shape)
    margin = p - t
    sent_pairs = margin >= 0
    doc_min: dict[str, float] = {}
    for d, q in zip(docs, margin, strict=True):
        doc_min[d] = min(doc_min.get(d, 1.0), float(q))
    sent_actual = np.array([doc_min[d] >= 0 for d in docs], dtype=bool)
    sent_docs = sent_actual if floors is None else (np.asarray(floors) - t >= 0)

    def figs(mask: np.ndarray) -> tuple[float, float, int]:
        n = int(mask.sum())
        tp = int(y[mask].sum())
        return (tp / n if n else 0.0), (tp / n_gold if n_gold else 0.0), n

    pp, ps, pn = figs(sent_pairs)
    dp, ds, dn = figs(sent_docs)
    ap, as_, _ = figs(sent_actual)
    return {"auto_precision": dp, "auto_share": ds, "auto_pairs_sent": dn,
            "auto_precision_actual": ap, "auto_share_actual": as_,
            "auto_pairs_precision": pp, "auto_pairs_share": ps, "auto_pairs_sent_pairwise": pn,
            "match_brier": float(((p - y) ** 2).mean()) if len(y) else None,
            "match_base_rate": float(y.mean()) if len(y) else None}  # fmt: skip


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 5) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    out = []
    for b in range(bins):
        m = (p >= edges[b]) & ((p < edges[b + 1]) if b < bins - 1 else (p <= 1.0))
        if m.any():
            out.append({"bin": [round(float(edges[b]), 2), round(float(edges[b + 1]), 2)], "n": int(m.sum()),
                        "mean_p": float(p[m].mean()), "observed": float(y[m].mean())})  # fmt: skip
    return out
