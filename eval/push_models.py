"""Out of fold: the learned audience, groups, confidence and P(match), beside the rules (`python -m eval push --cv K`).

For each outer fold (`eval.push_cv.assign_folds`, the fixed seed), on the training part only:
- the topic model (`corpus.push.topics.train_topic_model`, C and threshold on inner folds);
- the group model (`eval.push_groups`, C and threshold on the same inner folds);
- the audience model (`corpus.push.audience_model.train_audience_model`, hand features, C on the
  same inner folds; its threshold maximises inner out-of-fold match F1);
- the confidence model (`corpus.push.confidence`): the training part is labelled with the
  inner out-of-fold topics, groups and audience, so it sees probabilities like those of unseen
  documents; it learns "every pair this document produces is right";
- the P(match) model (`eval.push_match`) on the pairs of those same inner out-of-fold labels,
  with its auto-send threshold for pair precision >= 0.95.
The held-out fold is then labelled by the fold's models. Variants (`VARIANTS`): the rule groups or
the learned ones. Reported per variant: the flat figures (`eval.push_cv.flat_metrics`, same
bootstrap draws), `auto_precision` / `auto_share` (documents whose P(match) floor reaches the
fold's threshold go out unreviewed: precision of their pairs, their true pairs over all gold
pairs; pair-level and document-confidence figures beside them) and reliability tables.

    python -m eval push train-audience --labels DIR --out corpus/resources/push_audience

fits the shipped audience model on every document and the confidence and P(match) models on
their out-of-fold labels (written beside it as `push_confidence.json` and `push_match.json`).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.audience_model import AudienceModel, audience_features, audience_matrix, train_audience_model
from corpus.push.confidence import (
    ConfidenceModel,
    choose_auto_threshold,
    confidence_features,
    fit_confidence,
    reliability_table,
    rule_view,
)
from corpus.push.labels import label_document
from corpus.push.match_model import MatchModel
from corpus.push.targeting import Targeting
from corpus.push.topics import N_RULE_FEATURES, TopicModel, fit_logreg, train_topic_model
from eval.push import PushSet
from eval.push_groups import FixedGroups, GroupRows, Predicted, decode, fit_on, out_of_fold_groups
from eval.push_groups import predict as predict_groups
from eval.push_match import ALTERNATIVE_DROP, auto_figures, fit_pairs, pair_rows, reliability

log = logging.getLogger(__name__)

INNER_FOLDS = 5
MIN_PRECISION = 0.95
AUDIENCE_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)
# variant -> whether groups come from the learned group model (else the group rules). The audience model
# uses the hand features: the e5 embedding lowered match F1 out of fold (0.607 vs 0.660 on 2026-12-02),
# so it was dropped from the run (`train-audience --embedding` still builds it).
VARIANTS = {"audience_hand": False, "groups_model": True}
LEARNED_PRIMARY = "groups_model"  # the variant shipped (`python -m eval push train-audience`)
CONFIDENCE_C = 0.1  # ~90 documents reach someone: shrink hard towards the base rate

Scored = tuple[tuple[str, float], ...]


class _Fixed:
    """A labeller hook that returns precomputed (out-of-fold) values by document id."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def predict(self, doc: Document) -> Any:
        return self.values[doc.id]


def label_all(
    data: PushSet,
    ids: list[str],
    topics: dict[str, Scored],
    audience: dict[str, tuple],
    today: str,
    groups: Predicted | None = None,
    audience_probs: dict[str, np.ndarray] | None = None,
) -> dict[str, Targeting]:
    """Labels of `ids` with the given topics, audience and (optionally) groups, the rest by the rules;
    with `audience_probs`, each carries the fields' probabilities (`Targeting.probabilities`)."""
    t_hook = _Fixed({i: tuple(t for t, _ in topics[i]) for i in ids})
    a_hook = _Fixed(audience)
    g_hook = FixedGroups(groups) if groups is not None else None
    out = {}
    for i in ids:
        t = label_document(data.docs[i], today=today, topic_predictor=t_hook, audience_predictor=a_hook,
                           group_predictor=g_hook)  # fmt: skip
        if audience_probs is not None:
            pr = audience_probs[i]
            probs = {
                "audience": {"resident": float(pr[0]), "enterprise": float(pr[1])},
                "topics": {k: float(v) for k, v in topics[i]},
                "groups": dict(groups[i][2]) if groups else {},
            }
            t = dataclasses.replace(t, probabilities=probs)
        out[i] = t
    return out


def pair_counts(data: PushSet, pred: dict[str, Targeting], ids: list[str]) -> np.ndarray:
    from eval.push_cv import _pair_counts

    return _pair_counts(data, pred, ids)


def _inner_topics(x: np.ndarray, y: np.ndarray, folds: np.ndarray, model: TopicModel) -> list[Scored]:
    """Inner out-of-fold topics with the C and threshold `model` was chosen with."""
    out: list[Scored] = [()] * len(x)
    for k in sorted(set(folds.tolist())):
        test = folds == k
        m = dataclasses.replace(fit_logreg(x[~test], y[~test], model.info.get("C", 1.0)), threshold=model.threshold)
        for r, row in zip(np.flatnonzero(test), m.decode(m.predict_proba(x[test])), strict=True):
            out[r] = row
    return out


def fit_confidence_on(
    data: PushSet,
    ids: list[str],
    topics: dict[str, Scored],
    probs: dict[str, np.ndarray],
    threshold: float,
    today: str,
    groups: Predicted | None = None,
) -> tuple[ConfidenceModel, dict[str, Targeting], np.ndarray]:
    """The confidence model and its auto threshold from out-of-fold labels of `ids`; also the labels
    (with their confidence and probabilities) and pair counts."""
    audience = {i: _decode(probs[i], threshold) for i in ids}
    pred = label_all(data, ids, topics, audience, today, groups, probs)
    x = np.stack([confidence_features(pred[i], probs[i], topics[i], *rule_view(data.docs[i])) for i in ids])
    counts = pair_counts(data, pred, ids)
    reach = counts[:, 0] + counts[:, 1] > 0
    model = fit_confidence(x[reach], (counts[reach, 1] == 0).astype(int), CONFIDENCE_C)
    t = choose_auto_threshold(model.predict(x[reach]), counts[reach, 0], counts[reach, 1], MIN_PRECISION)
    conf = model.predict(x)
    pred = {i: dataclasses.replace(pred[i], confidence=float(c)) for i, c in zip(ids, conf, strict=True)}
    return dataclasses.replace(model, auto_threshold=t), pred, counts


def _decode(p: np.ndarray, threshold: float) -> tuple:
    return AudienceModel.decode_row(p, threshold)


def choose_audience_threshold(
    data: PushSet,
    ids: list[str],
    topics: dict[str, Scored],
    probs: dict[str, np.ndarray],
    today: str,
    groups: Predicted | None = None,
) -> tuple[float, float]:
    """(threshold, match F1) of the audience decision maximising match F1 of `ids` on out-of-fold
    probabilities; ties go to the threshold nearest 0.5."""
    best = (0.5, -1.0)
    for t in sorted(AUDIENCE_THRESHOLDS, key=lambda t: abs(t - 0.5)):
        pred = label_all(data, ids, topics, {i: _decode(probs[i], t) for i in ids}, today, groups)
        c = pair_counts(data, pred, ids).sum(axis=0)
        f = 2 * c[0] / (2 * c[0] + c[1] + c[2]) if c[0] else 0.0
        if f > best[1]:
            best = (t, float(f))
    return best


def out_of_fold_learned(
    data: PushSet, ids: list[str], x: np.ndarray, y_topics: np.ndarray, k: int, seed: int, today: str
) -> dict[str, dict[str, Any]]:
    """Per variant: out-of-fold labels (with confidence and probabilities), per-document confidence,
    auto flags, out-of-fold P(match) of every pair the labels produce, settings.

    `x` is the topic feature matrix of `eval.push_cv.cached_features` (embedding, then rule features).
    """
    from eval.push_cv import assign_folds

    docs = [data.docs[i] for i in ids]
    xa = audience_features(docs)
    y_aud = audience_matrix([data.gold[i].audience for i in ids])
    rows = GroupRows.of(data, ids)
    folds = assign_folds(ids, k, seed)
    fold = np.array([folds[i] for i in ids])
    out: dict[str, dict[str, Any]] = {
        v: {"pred": {}, "confidence": {}, "auto": {}, "settings": [], "pairs": [], "pairs_alt": []} for v in VARIANTS
    }
    for f in range(k):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        train_ids, test_ids = [ids[r] for r in train], [ids[r] for r in test]
        inner_map = assign_folds(train_ids, min(INNER_FOLDS, len(train_ids)), seed + 1 + f)
        inner = np.array([inner_map[i] for i in train_ids])
        tm = train_topic_model(x[train], y_topics[train], inner)
        inner_topics = dict(zip(train_ids, _inner_topics(x[train], y_topics[train], inner, tm), strict=True))
        test_topics = dict(zip(test_ids, tm.decode(tm.predict_proba(x[test])), strict=True))
        gm, g_inner = fit_on(rows, data, train_ids, seed + 1 + f)
        groups_in = decode(rows, rows.rows_of(set(train_ids)), g_inner, gm.threshold, train_ids)
        groups_te = predict_groups(gm, rows, test_ids)
        am, inner_probs = train_audience_model(xa[train], y_aud[train], inner, 0)
        probs_in = dict(zip(train_ids, inner_probs, strict=True))
        probs_te = dict(zip(test_ids, am.predict_proba(xa[test]), strict=True))
        for v, learned_groups in VARIANTS.items():
            g_in, g_te = (groups_in, groups_te) if learned_groups else (None, None)
            t, _ = choose_audience_threshold(data, train_ids, inner_topics, probs_in, today, g_in)
            cm, pred_in, _ = fit_confidence_on(data, train_ids, inner_topics, probs_in, t, today, g_in)
            pm = fit_pairs(data, pred_in, train_ids)
            pm_alt = fit_pairs(data, pred_in, train_ids, ALTERNATIVE_DROP)
            audience = {i: _decode(probs_te[i], t) for i in test_ids}
            pred = label_all(data, test_ids, test_topics, audience, today, g_te, probs_te)
            for i in test_ids:
                feats = confidence_features(pred[i], probs_te[i], test_topics[i], *rule_view(data.docs[i]))
                c = float(cm.predict(feats)[0])
                out[v]["pred"][i] = dataclasses.replace(pred[i], confidence=c)
                out[v]["confidence"][i] = c
                out[v]["auto"][i] = c >= cm.auto_threshold
            px, py, pdocs = pair_rows(data, out[v]["pred"], test_ids)
            for key, model in (("pairs", pm), ("pairs_alt", pm_alt)):
                floor = {i: model.floor(out[v]["pred"][i]) for i in set(pdocs)}
                out[v][key].append((model.predict(px) if len(py) else np.zeros(0), py, pdocs, model.auto_threshold,
                                    np.array([floor[d] for d in pdocs], dtype=np.float64)))  # fmt: skip
            out[v]["settings"].append({"fold": f, "n_test": len(test_ids), "audience": am.info,
                                       "audience_threshold": t, "topic_C": tm.info.get("C"),
                                       "groups": {"threshold": gm.threshold, **gm.info} if learned_groups else None,
                                       "auto_threshold": cm.auto_threshold,
                                       "match_auto_threshold": pm.auto_threshold})  # fmt: skip
    return out


def confidence_metrics(
    ids: list[str], counts: np.ndarray, conf: dict[str, float], auto: dict[str, bool], n_gold: int
) -> dict[str, Any]:
    """auto_precision / auto_share at the per-fold thresholds, the threshold one would ship
    (chosen on all out-of-fold confidences) with its figures, and the reliability table."""
    c = np.array([conf[i] for i in ids])
    sent = np.array([auto[i] for i in ids])
    tp, fp = counts[:, 0], counts[:, 1]
    reach = tp + fp > 0
    right = (fp == 0).astype(float)

    def auto_figures(mask: np.ndarray) -> tuple[float, float]:
        n = int(tp[mask].sum() + fp[mask].sum())
        return (float(tp[mask].sum() / n) if n else 0.0), (float(tp[mask].sum() / n_gold) if n_gold else 0.0)

    precision, share = auto_figures(sent & reach)
    shipped = choose_auto_threshold(c[reach], tp[reach], fp[reach], MIN_PRECISION)
    sp, ss = auto_figures((c >= shipped) & reach)
    return {
        "auto_precision": precision,
        "auto_share": share,
        "auto_documents": int((sent & reach).sum()),
        "auto_threshold_oof": shipped,
        "auto_precision_at_oof_threshold": sp,
        "auto_share_at_oof_threshold": ss,
        "confidence_brier": float(((c[reach] - right[reach]) ** 2).mean()) if reach.any() else None,
        "documents_reaching_someone": int(reach.sum()),
        "documents_all_pairs_right": int(right[reach].sum()),
        "reliability": reliability_table(c[reach], right[reach]),
    }


def learned_variants(
    data: PushSet, x: np.ndarray, y_topics: np.ndarray, k: int, seed: int, today: str, draws: np.ndarray
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The flat metrics (+ confidence and P(match) figures) of each variant, and their per-fold settings."""
    from eval.push_cv import flat_metrics

    ids = list(data.gold)
    oof = out_of_fold_learned(data, ids, x, y_topics, k, seed, today)
    variants, settings = {}, {}
    for v, o in oof.items():
        m = flat_metrics(data, o["pred"], draws, today)
        doc_level = confidence_metrics(ids, m["_match_counts"], o["confidence"], o["auto"], len(data.gold_pairs))
        m.update({f"confidence_{kk}" if kk.startswith("auto") else kk: vv for kk, vv in doc_level.items()})
        for key in ("pairs", "pairs_alt"):
            p = np.concatenate([q[0] for q in o[key]])
            y = np.concatenate([q[1] for q in o[key]])
            pdocs = [d for q in o[key] for d in q[2]]
            t = np.concatenate([np.full(len(q[1]), q[3]) for q in o[key]])
            floors = np.concatenate([q[4] for q in o[key]])
            figs = {
                **auto_figures(p, y, pdocs, t, len(data.gold_pairs), floors),
                "match_reliability": reliability(p, y),
            }
            if key == "pairs":
                m.update(figs)
            else:
                m["pmatch_alternative"] = {"dropped": list(ALTERNATIVE_DROP), **figs}
        for i in ids:
            m["per_document"][i]["confidence"] = o["confidence"][i]
            m["per_document"][i]["audience"] = [a.value for a in o["pred"][i].audience]
            m["per_document"][i]["groups"] = list(o["pred"][i].groups)
        variants[v] = m
        settings[v] = o["settings"]
    return variants, settings


def train_shipped(
    data: PushSet, x: np.ndarray, y_topics: np.ndarray, k: int, seed: int, today: str, embedding: bool = False
) -> tuple[AudienceModel, ConfidenceModel, MatchModel]:
    """The audience model on every document (C on k folds), and the confidence and P(match) models on
    their out-of-fold labels (topics, audience and, when shipped, groups all out of fold)."""
    from eval.push_cv import assign_folds

    ids = list(data.gold)
    docs = [data.docs[i] for i in ids]
    emb = x[:, : x.shape[1] - N_RULE_FEATURES]
    xa = audience_features(docs, emb if embedding else None)
    dim = emb.shape[1] if embedding else 0
    folds_map = assign_folds(ids, k, seed)
    folds = np.array([folds_map[i] for i in ids])
    am, probs = train_audience_model(xa, audience_matrix([data.gold[i].audience for i in ids]), folds, dim)
    # out-of-fold topics on the same folds, with a topic model chosen like the shipped one
    topics: dict[str, Scored] = {}
    for f in range(k):
        train, test = folds != f, folds == f
        tr_ids = [i for i, m in zip(ids, train, strict=True) if m]
        inner_map = assign_folds(tr_ids, min(INNER_FOLDS, len(tr_ids)), seed + 1 + f)
        tm = train_topic_model(x[train], y_topics[train], np.array([inner_map[i] for i in tr_ids]))
        te_ids = [i for i, m in zip(ids, test, strict=True) if m]
        topics.update(zip(te_ids, tm.decode(tm.predict_proba(x[test])), strict=True))
    groups = out_of_fold_groups(GroupRows.of(data, ids), data, ids, k, seed)[0] if VARIANTS[LEARNED_PRIMARY] else None
    oof = dict(zip(ids, probs, strict=True))
    t, f1 = choose_audience_threshold(data, ids, topics, oof, today, groups)
    am = dataclasses.replace(am, threshold=t, info={**am.info, "threshold_match_f1": round(f1, 4)})
    cm, pred, _ = fit_confidence_on(data, ids, topics, oof, am.threshold, today, groups)
    return am, cm, fit_pairs(data, pred, ids)


def save_shipped(
    am: AudienceModel, cm: ConfidenceModel, pm: MatchModel, out: Path, info: dict[str, Any]
) -> tuple[Path, Path, Path]:
    am = dataclasses.replace(am, info={**am.info, **info})
    cm = dataclasses.replace(cm, info={**cm.info, **info, "min_precision": MIN_PRECISION})
    pm = dataclasses.replace(pm, info={**pm.info, **info})
    am.save(out)
    return out.with_suffix(".json"), cm.save(out.with_name("push_confidence")), pm.save(out.with_name("push_match"))


def train_main(argv: list[str]) -> int:
    """`python -m eval push train-audience --labels DIR --out STEM [--embedding]`: fit and save the shipped models."""
    import argparse
    import sys

    from eval.push import load_push_set
    from eval.push_cv import _common, _load_encoder, _sha, cached_features, topic_matrix

    p = argparse.ArgumentParser(prog="python -m eval push train-audience", description=train_main.__doc__)
    _common(p)
    p.add_argument("--out", type=Path, required=True, help="model stem: writes STEM.json/.npy and push_confidence.json")
    p.add_argument("--cv", type=int, default=5, help="folds for C, the thresholds and the confidence (default 5)")
    p.add_argument("--today", default="2026-11-29", help="ISO date for validity periods (default %(default)s)")
    p.add_argument(
        "--embedding", action="store_true", help="append the e5 embedding (not shipped: see LEARNED_PRIMARY)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(name)s: %(message)s")
    try:
        data = load_push_set(args.labels / "doc_labels.jsonl", corpus_path=args.corpus)
        ids = list(data.gold)
        encoder = _load_encoder(args.encoder, args.model)
        x = cached_features([data.docs[i] for i in ids], encoder, args.cache, args.max_passages)
        y = topic_matrix([data.gold[i] for i in ids])
        am, cm, pm = train_shipped(data, x, y, args.cv, args.seed, args.today, embedding=args.embedding)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rebuild = f"python -m eval push train-audience --labels DIR --out {args.out}" + (
        " --embedding" if args.embedding else ""
    )
    info = {"encoder": encoder.name, "max_passages": args.max_passages, "labels": args.labels.name,
            "labels_sha256": _sha(args.labels), "rebuild": rebuild}  # fmt: skip
    js, cjs, mjs = save_shipped(am, cm, pm, args.out, info)
    print(f"audience model (C {am.info['C']}, threshold {am.threshold}) -> {js}; confidence "
          f"(auto threshold {cm.auto_threshold:.3f}) -> {cjs}; P(match) (auto threshold "
          f"{pm.auto_threshold:.3f}) -> {mjs}")  # fmt: skip
    return 0
