"""Training and out-of-fold use of the push group model (`corpus.push.group_model`).

    python -m eval push train-groups --labels DIR --out corpus/resources/push_groups

Candidates are the (document, group) pairs the lexicon proposes; a candidate is positive when the
gold labels name the group. C and the threshold are chosen on inner folds grouped by document,
maximising group F1 over all gold groups (candidates the lexicon never proposes count as misses).
The char n-gram TF-IDF of the mentions' sentences and lead-ins, and LightGBM on the same rows,
were measured on 2026-12-02 and did not beat the logistic model out of fold (group F1 0.715 for
both the logistic model alone and stacked with TF-IDF, 0.694 for LightGBM), so neither ships.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.group_model import GroupModel, candidate_features, fit_groups
from eval.push import PushSet, load_push_set

log = logging.getLogger(__name__)

CS = (0.01, 0.03, 0.1, 0.3)
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
INNER_FOLDS = 5


@dataclass(frozen=True)
class GroupRows:
    """Candidate rows of a labelled set: keys (doc id, group), features, evidence, gold 0/1."""

    keys: list[tuple[str, str]]
    x: np.ndarray
    quotes: list[str | None]
    y: np.ndarray

    @classmethod
    def of(cls, data: PushSet, ids: Sequence[str]) -> GroupRows:
        keys, x, quotes = candidate_features([data.docs[i] for i in ids])
        y = np.array([g in data.gold[i].groups for i, g in keys], dtype=np.int8)
        return cls(keys, x, quotes, y)

    def rows_of(self, ids: set[str]) -> np.ndarray:
        return np.array([k[0] in ids for k in self.keys], dtype=bool)


def _f1(p: np.ndarray, y: np.ndarray, n_gold: int, t: float) -> float:
    pred = p >= t
    tp = int((pred & (y == 1)).sum())
    fp = int((pred & (y == 0)).sum())
    return 2 * tp / (2 * tp + fp + (n_gold - tp)) if tp else 0.0


def train_group_model(
    x: np.ndarray, y: np.ndarray, row_folds: np.ndarray, n_gold: int
) -> tuple[GroupModel, np.ndarray]:
    """Fit on all rows with C and threshold chosen on the inner out-of-fold probabilities; also returns those."""
    best: tuple[float, float, float, np.ndarray] | None = None  # (F1, C, threshold, oof)
    for c in CS:
        oof = np.zeros(len(y))
        for k in sorted(set(row_folds.tolist())):
            test = row_folds == k
            oof[test] = fit_groups(x[~test], y[~test], c).predict_proba(x[test])
        for t in sorted(THRESHOLDS, key=lambda t: abs(t - 0.5)):
            f = _f1(oof, y, n_gold, t)
            if best is None or f > best[0]:
                best = (f, c, t, oof)
    assert best is not None
    f, c, t, oof = best
    model = fit_groups(x, y, c, t)
    return replace(model, info={**model.info, "inner_group_f1": round(f, 4)}), oof


def _folds(ids: Sequence[str], k: int, seed: int) -> dict[str, int]:
    from eval.push_cv import assign_folds

    return assign_folds(list(ids), min(k, len(ids)), seed)


def fit_on(rows: GroupRows, data: PushSet, train_ids: Sequence[str], seed: int) -> tuple[GroupModel, np.ndarray]:
    """The group model of `train_ids` (inner folds by document) and its inner out-of-fold probabilities."""
    mask = rows.rows_of(set(train_ids))
    inner = _folds(train_ids, INNER_FOLDS, seed)
    row_folds = np.array([inner[k[0]] for k, m in zip(rows.keys, mask, strict=True) if m])
    n_gold = sum(len(data.gold[i].groups) for i in train_ids)
    return train_group_model(rows.x[mask], rows.y[mask], row_folds, n_gold)


Predicted = dict[str, tuple[tuple[str, ...], dict[str, str], dict[str, float]]]


def decode(rows: GroupRows, mask: np.ndarray, p: np.ndarray, threshold: float, ids: Sequence[str]) -> Predicted:
    """Per document of `ids`: (groups, evidence, candidate probabilities) from row probabilities `p` of `mask`."""
    out: Predicted = {i: ((), {}, {}) for i in ids}
    for (doc_id, g), q, prob in zip(
        (k for k, m in zip(rows.keys, mask, strict=True) if m),
        (q for q, m in zip(rows.quotes, mask, strict=True) if m),
        p,
        strict=True,
    ):
        groups, evidence, probs = out[doc_id]
        probs = {**probs, g: float(prob)}
        if prob >= threshold and q:
            groups, evidence = (*groups, g), {**evidence, g: q}
        out[doc_id] = (groups, evidence, probs)
    return out


def predict(model: GroupModel, rows: GroupRows, ids: Sequence[str]) -> Predicted:
    mask = rows.rows_of(set(ids))
    p = model.predict_proba(rows.x[mask]) if mask.any() else np.zeros(0)
    return decode(rows, mask, p, model.threshold, ids)


class FixedGroups:
    """A `GroupPredictor` hook returning precomputed (out-of-fold) groups and evidence."""

    def __init__(self, groups: Predicted) -> None:
        self.groups = groups

    def predict(self, doc: Document) -> tuple[tuple[str, ...], dict[str, str]]:
        g, e, _ = self.groups[doc.id]
        return g, e


def out_of_fold_groups(rows: GroupRows, data: PushSet, ids: list[str], k: int, seed: int) -> tuple[Predicted, list]:
    """Groups of every document from a model trained without its fold; and each fold's settings."""
    folds = _folds(ids, k, seed)
    out: Predicted = {}
    settings = []
    for f in range(k):
        train_ids = [i for i in ids if folds[i] != f]
        test_ids = [i for i in ids if folds[i] == f]
        model, _ = fit_on(rows, data, train_ids, seed + 1 + f)
        out.update(predict(model, rows, test_ids))
        settings.append({"fold": f, "threshold": model.threshold, **model.info})
    return out, settings


def train_main(argv: list[str]) -> int:
    """`python -m eval push train-groups --labels DIR --out STEM`: fit and save the shipped group model."""
    from eval.push_cv import SEED, _sha

    p = argparse.ArgumentParser(prog="python -m eval push train-groups", description=train_main.__doc__)
    p.add_argument(
        "--labels", type=Path, required=True, help="folder with doc_labels.jsonl, profiles.jsonl, matches.tsv"
    )
    p.add_argument("--corpus", type=Path, default=None, help="policies.jsonl (default: ../shared)")
    p.add_argument("--out", type=Path, required=True, help="model stem: writes STEM.json")
    p.add_argument("--cv", type=int, default=5, help="folds that choose C and the threshold (default 5)")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        from eval.push_cv import DEFAULT_CORPUS

        data = load_push_set(args.labels / "doc_labels.jsonl", corpus_path=args.corpus or DEFAULT_CORPUS)
        ids = list(data.gold)
        rows = GroupRows.of(data, ids)
        folds = _folds(ids, args.cv, args.seed)
        row_folds = np.array([folds[k[0]] for k in rows.keys])
        model, _ = train_group_model(rows.x, rows.y, row_folds, sum(len(data.gold[i].groups) for i in ids))
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    info: dict[str, Any] = {**model.info, "labels": args.labels.name, "labels_sha256": _sha(args.labels),
                            "n_candidates": len(rows.y), "rebuild": f"python -m eval push train-groups --labels DIR "
                            f"--out {args.out}"}  # fmt: skip
    js = replace(model, info=info).save(args.out)
    print(f"group model (C {model.info.get('C')}, threshold {model.threshold}) -> {js}")
    return 0
