"""Abstention out of fold: calibrated support models, the nested threshold choice, and the curve.

Rows are answers the pipeline gave (eval.answers.Judged with its `signals`), each with a fold group
(the gold document's cluster: a question and its masked twin share it) and a label:

- 1 (supported): an answerable question whose answer is found or cited (citation_doc_hit@1 or
  answer_hit@3, the eval's "answered correctly");
- 0 (unsupported): an unanswerable or out-of-scope question, or an answerable one asked again with
  its relevant documents, their versions and interpretations masked out of the index;
- None (not fitted, still measured): an answerable question answered wrongly. The corpus holds its
  answer, so abstaining counts as a false abstention, yet the quoted answer is not supported
  either; with either label the model would learn noise (many ncp notices repeat each other).

Calibration is Platt scaling of the logistic's logit, fitted on out-of-fold logits of the
training part and folded into the weights (index.abstention.with_platt). The threshold is chosen
for abstention precision >= 0.90 at false abstention <= 5 % (most abstention recall among those)
on out-of-fold probabilities; `nested` measures that choice on folds it never saw.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eval.answers import Judged, metrics_at
from index.abstention import FEATURES, with_platt
from index.answer_model import LogisticModel, fit_logistic

GRID = [i / 20 for i in range(21)]  # the reported curve's fixed points (the choice uses every distinct value)
# Reported too: the thresholds at which these shares of the asked questions are abstained on.
SHARES = (0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)
CURVE_KEYS = ("threshold", "abstain_precision", "abstain_recall", "false_abstention_rate")
# The two candidates compared out of fold: the rule confidence, calibrated, and the full model.
CANDIDATES: dict[str, tuple[str, ...]] = {"rule_calibrated": ("rule_conf",), "model": FEATURES}
LABEL_POLICY = "1: answerable and answered correctly; 0: unanswerable, out of scope, masked; wrong answers not fitted"


@dataclass(frozen=True)
class Row:
    judged: Judged
    group: str
    label: int | None
    masked: bool = False


def label_of(j: Judged, masked: bool) -> int | None:
    if masked or not j.answerable:
        return 0
    return 1 if j.correct_if_answered() else None


def fold_of(key: str, k: int, salt: str = "") -> int:
    return zlib.crc32((salt + key).encode()) % k


def _fit_rows(rows: Sequence[Row]) -> list[Row]:
    # Without a quoted sentence the answerer abstains whatever the probability: nothing to learn.
    return [r for r in rows if r.label is not None and r.judged.sentences]


def fit_calibrated(rows: Sequence[Row], features: Sequence[str], inner: int = 5, c: float = 1.0) -> LogisticModel:
    """Logistic on all `rows` (masked twins included: they teach what an unanswered question looks
    like), Platt-calibrated on the out-of-fold logits of the questions as asked only, so that the
    probability is calibrated on the realistic mix (the dev sets, their unanswerable and
    out-of-scope questions), not on the half-masked training mix."""
    fit = _fit_rows(rows)
    labels = [r.label for r in fit]
    if len(set(labels)) < 2:  # one class (tiny sets): a constant probability
        p = 0.99 if labels and labels[0] else 0.01
        zeros = tuple(0.0 for _ in features)
        return LogisticModel(tuple(features), zeros, tuple(1.0 for _ in features), zeros, math.log(p / (1 - p)))
    z, y = [], []
    for f in range(inner):
        train = [r for r in fit if fold_of(r.group, inner, "inner") != f]
        test = [r for r in fit if fold_of(r.group, inner, "inner") == f]
        if not test or len({r.label for r in train}) < 2:
            continue
        m = fit_logistic([r.judged.signals for r in train], [r.label for r in train], features, c)
        z += [m.logit(r.judged.signals) for r in test if not r.masked]
        y += [r.label for r in test if not r.masked]
    base = fit_logistic([r.judged.signals for r in fit], labels, features, c)
    a, b = platt(z, y)
    return with_platt(base, a, b)


def platt(z: Sequence[float], y: Sequence[int]) -> tuple[float, float]:
    """(a, b) of P = sigmoid(a z + b) on held-out logits; identity when there is too little to fit."""
    if len(set(y)) < 2:
        return 1.0, 0.0
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(np.asarray(z).reshape(-1, 1), np.asarray(y))
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def with_confidence(rows: Sequence[Row], probs: Sequence[float]) -> list[Row]:
    return [replace(r, judged=replace(r.judged, confidence=round(p, 4))) for r, p in zip(rows, probs, strict=True)]


def oof(rows: Sequence[Row], features: Sequence[str], k: int = 5, inner: int = 5) -> list[Row]:
    """Rows with their out-of-fold calibrated probability as confidence (0 without a sentence)."""
    probs = [0.0] * len(rows)
    for f in range(k):
        train = [r for r in rows if fold_of(r.group, k) != f]
        model = fit_calibrated(train, features, inner)
        for i, r in enumerate(rows):
            if fold_of(r.group, k) == f and r.judged.sentences:
                probs[i] = model.prob(r.judged.signals)
    return with_confidence(rows, probs)


def candidate_thresholds(judged: Sequence[Judged]) -> list[float]:
    """0, the midpoints between consecutive distinct confidences, and 1: every distinct decision."""
    vals = sorted({round(j.confidence, 4) for j in judged if j.sentences})
    mids = [round((a + b) / 2, 5) for a, b in zip(vals, vals[1:], strict=False)]
    return sorted({0.0, *mids, 1.0})


def abstention_curve(judged: Sequence[Judged], grid: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """metrics_at's abstention figures at every threshold of `grid` (default: every distinct
    decision), from counts only: fast enough for the inner folds."""
    import numpy as np

    grid = candidate_thresholds(judged) if grid is None else grid
    conf = np.asarray([j.confidence if j.sentences else -np.inf for j in judged])
    answerable = np.asarray([j.answerable for j in judged], dtype=bool)
    n_ans, n_un = int(answerable.sum()), int((~answerable).sum())

    def rate(n: int, d: int) -> float:
        return round(n / d, 4) if d else 0.0

    out = []
    for t in grid:
        abst = conf < t
        ok, false = int((abst & ~answerable).sum()), int((abst & answerable).sum())
        out.append(
            {
                "threshold": round(t, 5),
                "abstain_precision": rate(ok, ok + false),
                "abstain_recall": rate(ok, n_un),
                "false_abstention_rate": rate(false, n_ans),
                "abstained": ok + false,
                "abstained_correctly": ok,
                "false_abstentions": false,
            }
        )
    return out


def report_curve(judged: Sequence[Judged], chosen: float) -> list[dict[str, Any]]:
    """The curve at the fixed points, at the thresholds abstaining on SHARES of the questions, and
    at the chosen threshold, ascending."""
    curve = abstention_curve(judged)
    n = len(judged)
    pts = {m["threshold"]: m for m in abstention_curve(judged, GRID)}
    for share in SHARES:
        m = next((m for m in curve if m["abstained"] >= share * n), None)
        if m is not None:
            pts[m["threshold"]] = m
    pts |= {m["threshold"]: m for m in abstention_curve(judged, [chosen])}
    return [{k: m[k] for k in (*CURVE_KEYS, "abstained")} for _, m in sorted(pts.items())]


def choose_threshold(
    judged: Sequence[Judged], max_far: float = 0.05, min_precision: float = 0.90
) -> tuple[float, list[dict[str, Any]]]:
    """Among thresholds with false abstention <= max_far and precision >= min_precision: the one with
    the most abstention recall (then the lower false abstention, then the lower threshold). If none
    reaches the precision, the most precise at <= max_far. Thresholds abstaining on nothing
    unanswerable are ignored."""
    curve = abstention_curve(judged)
    ok = [m for m in curve if m["false_abstention_rate"] <= max_far and m["abstained_correctly"] > 0]
    if not ok:
        return curve[0]["threshold"], curve
    good = [m for m in ok if m["abstain_precision"] >= min_precision]
    if good:
        best = max(good, key=lambda m: (m["abstain_recall"], -m["false_abstention_rate"], -m["threshold"]))
    else:
        best = max(ok, key=lambda m: (m["abstain_precision"], m["abstain_recall"], -m["threshold"]))
    return best["threshold"], curve


def nested(
    rows: Sequence[Row],
    features: Sequence[str],
    k: int = 5,
    inner: int = 5,
    max_far: float = 0.05,
    chooser: Callable[..., tuple[float, list]] = choose_threshold,
) -> tuple[list[Judged], list[float]]:
    """Each outer fold answered by a model fitted, calibrated and thresholded on the other folds
    only (the threshold from their inner out-of-fold probabilities). Returns the asked questions'
    judgements, shifted so that threshold 0.5 applies each fold's own, and the fold thresholds."""
    out: dict[int, Judged] = {}
    thresholds = []
    for f in range(k):
        train = [r for r in rows if fold_of(r.group, k) != f]
        test = [(i, r) for i, r in enumerate(rows) if fold_of(r.group, k) == f and not r.masked]
        if not test:
            continue
        inner_rows = oof(train, features, inner, inner)
        t, _ = chooser([r.judged for r in inner_rows if not r.masked], max_far)
        thresholds.append(t)
        model = fit_calibrated(train, features, inner)
        for i, r in test:
            p = model.prob(r.judged.signals) if r.judged.sentences else 0.0
            out[i] = replace(r.judged, confidence=0.5 + p - t if r.judged.sentences else 0.0)
    return [out[i] for i in sorted(out)], thresholds


SUMMARY_KEYS = (
    "threshold",
    "queries",
    "answer_hit@1",
    "answer_hit@3",
    "citation_doc_hit@1",
    "abstain_precision",
    "abstain_recall",
    "false_abstention_rate",
    "abstained_correctly",
    "false_abstentions",
)


def summary(judged: Sequence[Judged], threshold: float) -> dict[str, Any]:
    m = metrics_at(judged, threshold)
    return {k: m[k] for k in SUMMARY_KEYS}


def beats(a: dict[str, Any], b: dict[str, Any], max_far: float = 0.05) -> bool:
    """Operating point `a` is better: meets precision >= 0.90 at false abstention <= max_far and
    `b` does not, or both (or neither) do and `a` has more recall (neither: more precision)."""

    def key(m: dict[str, Any]) -> tuple:
        meets = m["abstain_precision"] >= 0.9 and m["false_abstention_rate"] <= max_far
        return (meets, m["abstain_recall"] if meets else m["abstain_precision"], -m["false_abstention_rate"])

    return key(a) > key(b)


def evaluate(
    rows: Sequence[Row],
    candidates: dict[str, Sequence[str]],
    rule_threshold: float,
    k: int = 5,
    inner: int = 5,
    max_far: float = 0.05,
) -> tuple[dict[str, Any], dict[str, tuple[list[Judged], list[Row]]]]:
    """The before (the rule confidence at `rule_threshold`) and each candidate feature set out of fold
    (nested figure, OOF curve and the threshold chosen on it), all on the asked questions; plus
    which candidate is better out of fold. No fitted number here saw the rows it is measured on.
    Also returns, per candidate, the nested judgements and the rows with their OOF probability."""
    asked = [r for r in rows if not r.masked]
    rule = [replace(r.judged, confidence=float(r.judged.signals.get("rule_conf", 0.0))) for r in asked]
    report: dict[str, Any] = {
        "label_policy": LABEL_POLICY,
        "folds": k,
        "inner_folds": inner,
        "grouping": "gold document cluster (versions, interpretations; a question and its masked twin together)",
        "rows": {
            "asked": len(asked),
            "masked": len(rows) - len(asked),
            "positive": sum(1 for r in rows if r.label == 1),
            "negative": sum(1 for r in rows if r.label == 0),
            "not_fitted": sum(1 for r in rows if r.label is None),
            # Unanswerable questions with nothing to quote: abstained on at any threshold (the floor).
            "forced_abstentions": sum(1 for r in asked if not r.judged.sentences and not r.judged.answerable),
        },
        "before_rule": summary(rule, rule_threshold),
        "candidates": {},
    }
    best = None
    detail = {}
    for name, feats in candidates.items():
        scored = oof(rows, feats, k, inner)
        o_asked = [r.judged for r in scored if not r.masked]
        t, _ = choose_threshold(o_asked, max_far)
        nested_j, fold_t = nested(rows, feats, k, inner, max_far)
        entry = {
            "features": list(feats),
            # Each outer fold at its own threshold (0.5 after the shift in `nested`).
            "nested": {k: v for k, v in summary(nested_j, 0.5).items() if k != "threshold"}
            | {"fold_thresholds": fold_t},
            "threshold_oof": t,
            "at_threshold_oof": summary(o_asked, t),
            "with_masked_at_threshold_oof": summary([r.judged for r in scored], t),
            "curve_oof": report_curve(o_asked, t),
        }
        report["candidates"][name] = entry
        detail[name] = (nested_j, scored)
        if best is None or beats(entry["nested"], report["candidates"][best]["nested"], max_far):
            best = name
    report["better_out_of_fold"] = best
    return report, detail


def related_documents(index: Any, doc_ids: frozenset[str]) -> set[str]:
    """The documents plus their versions and interpretations (what answers the same question)."""
    docs = index.documents
    out = set(doc_ids)
    keys = {(docs[d].version_group or "") for d in doc_ids if d in docs} - {""}
    for d in docs.values():
        if d.id in out:
            continue
        if (d.version_group and d.version_group in keys) or d.interprets in doc_ids or d.supersedes in doc_ids:
            out.add(d.id)
        elif any(docs[r].interprets == d.id or docs[r].supersedes == d.id for r in doc_ids if r in docs):
            out.add(d.id)
    return out


def pipeline_rows(pipeline: Any, index: Any, judged: Sequence[Judged], masked: bool = True) -> list[Row]:
    """Rows of the questions as the pipeline answered them and, with `masked`, each answerable one
    asked again with its relevant documents, versions and interpretations filtered out."""
    from index.types import Filters

    all_ids = frozenset(index.documents)
    rows = []
    for j in judged:
        related = related_documents(index, j.relevant) if j.relevant else set()
        group = min(related) if related else j.qid
        rows.append(Row(j, group, label_of(j, False)))
        if not (masked and related):
            continue
        try:
            a = pipeline.ask(j.text, filters=Filters(doc_ids=all_ids - related))
        except ValueError:
            continue  # rejected (too long): the asked row already counts it
        twin = Judged(
            j.qid + "#masked",
            j.text,
            False,
            None,
            frozenset(),
            a.confidence if not a.abstained else 0.0,
            tuple(s.text for s in a.sentences),
            a.sentences[0].citation.doc_id if a.sentences else None,
            dict(a.signals),
            j.style,
        )
        rows.append(Row(twin, group, 0, masked=True))
    return rows


def train_main(argv: Sequence[str]) -> int:
    """`python -m eval answers train-abstention ARGS --write`: the abstention model trained on the
    answers of the /api/ask pipeline itself (eval.answers.judge, with the shipped sentence ranker)
    and their masked twins; the better candidate out of fold is written with its OOF threshold."""
    import json
    import logging
    import sys
    from pathlib import Path

    from eval import answers
    from eval.beir import BeirFormatError
    from index.abstention import ABSTENTION_RESOURCE, DEFAULT_ABSTAIN_THRESHOLD

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = answers.build_parser()
    p.prog = "python -m eval answers train-abstention"
    p.add_argument("--inner-folds", type=int, default=5)
    p.add_argument("--max-false-abstention", type=float, default=0.05)
    p.add_argument("--write", action="store_true", help="write abstention.json into --resources-dir")
    p.add_argument("--resources-dir", type=Path, default=answers.REPO / "index" / "resources")
    args = p.parse_args(list(argv))
    try:
        queries, qrels = answers.load_sets(args)
    except (BeirFormatError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    index = answers.open_index(args)
    pipeline = answers.pipeline_for(index, args.faq, rules=args.rules)
    judged = answers.judge(pipeline, queries, qrels)
    rows = pipeline_rows(pipeline, index, judged, masked=not args.no_masked)
    k, inner = args.abstention_folds, args.inner_folds
    report, _ = evaluate(rows, CANDIDATES, DEFAULT_ABSTAIN_THRESHOLD, k, inner, args.max_false_abstention)
    best = report["better_out_of_fold"]
    threshold = report["candidates"][best]["threshold_oof"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "abstention_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    brief = {"before_rule": report["before_rule"], "better_out_of_fold": best, "threshold_oof": threshold}
    brief |= {n: c["nested"] for n, c in report["candidates"].items()}
    sys.stdout.write(json.dumps(brief, ensure_ascii=False) + "\n")
    if args.write:
        model = fit_calibrated(rows, CANDIDATES[best], inner)
        meta = {
            **model.meta,
            "encoder": getattr(index.encoder, "name", None),
            "command": "make answer-models (python -m eval answers train-abstention ... --write)",
            "trained_on": [str(q) for q in args.queries + args.extra_unanswerable],
            "candidate": best,
            "label_policy": LABEL_POLICY,
            "threshold_rule": f"OOF: precision >= 0.90 at FAR <= {args.max_false_abstention}, most recall",
            "nested_oof": report["candidates"][best]["nested"],
            "before_rule": report["before_rule"],
        }
        replace(model, threshold=threshold, meta=meta).save(args.resources_dir / ABSTENTION_RESOURCE)
        logging.getLogger(__name__).info("wrote %s in %s", ABSTENTION_RESOURCE, args.resources_dir)
    return 0
