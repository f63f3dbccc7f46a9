"""Train the answer-sentence ranker and the support (abstention) model, out of fold.

    python -m eval answers train --corpus ../shared/data/corpus/policies.jsonl \
        --queries ../shared/data/eval/ncp-dev/queries.jsonl --qrels ../shared/data/eval/ncp-dev/qrels.tsv \
        --queries ../shared/data/eval/resident-qa-dev/queries.jsonl \
        --qrels ../shared/data/eval/resident-qa-dev/qrels.tsv \
        --extra-unanswerable eval/data/out_of_scope.jsonl --encoder onnx --out var/eval/answer-train [--write]

Candidates and features are those the service computes (index.selection, index.abstention). Folds
group queries by their gold document's cluster (its versions and interpretations), so a document's
sentences are never scored by a model that saw them. Hard negatives for the abstention model: every
answerable question asked again with its relevant documents (and their versions and
interpretations) masked out of the index, plus the unanswerable and out-of-scope questions. Two
candidates compete out of fold (eval.abstention_cv): the rule confidence, Platt-calibrated, and the
logistic on index.abstention.FEATURES; each gets a threshold chosen out of fold (precision >= 0.90
at false abstention <= --max-false-abstention, most recall) and a nested figure, reported here for
the out-of-fold ranker. `--write` stores the ranker in index/resources/answer_ranker.json; the
abstention model is then trained on the /api/ask pipeline's own answers with that ranker by
`python -m eval answers train-abstention ... --write` (both: `make answer-models`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from eval import abstention_cv
from eval.answers import (
    REPO,
    Judged,
    load_sets,
    metrics_at,
    open_index,
    pipeline_for,
    span_hit,
)
from eval.answers import (
    build_parser as answers_parser,
)
from eval.beir import BeirFormatError, Query
from index import abstention, selection
from index.answer import Answerer
from index.answer_model import (
    BASE_SENTENCE_FEATURES,
    SENTENCE_FEATURES,
    AnswerModel,
    fit_logistic,
    fit_trees,
)
from index.types import Filters

log = logging.getLogger(__name__)
RESOURCES = REPO / "index" / "resources"


@dataclass
class Case:
    """One question as asked (variant "asked") or with its relevant documents masked ("masked")."""

    query: Query
    variant: str
    answerable: bool  # the corpus (as searched) holds the answer
    relevant: frozenset[str]
    group: str
    hits: list = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)
    cands: list[selection.Candidate] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    fold: int = 0


# The documents plus their versions and interpretations (what answers the same question).
_related = abstention_cv.related_documents


def build_cases(answerer: Answerer, queries: Sequence[Query], qrels: dict, folds: int) -> list[Case]:
    index = answerer.index
    all_ids = frozenset(index.documents)
    cases: list[Case] = []
    for n, q in enumerate(queries):
        rel = frozenset(d for d, s in qrels.get(q.id, {}).items() if s > 0)
        related = _related(index, rel) if rel else set()
        group = min(related) if related else q.id  # the document cluster: its versions and 解读 together
        variants = [("asked", bool(rel), None)]
        if rel:
            variants.append(("masked", False, Filters(doc_ids=all_ids - related)))
        for variant, answerable, filters in variants:
            c = Case(q, variant, answerable, rel, group)
            try:
                c.hits = answerer.index.search(q.text, top_k=answerer.config.top_k, filters=filters)
            except ValueError as exc:
                log.warning("query %s rejected: %s", q.id, exc)
            c.terms = answerer.query_terms(q.text)
            if c.hits and c.terms:
                c.cands = selection.candidates(
                    q.text,
                    c.hits,
                    c.terms,
                    index.get_document,
                    answerer.config.answer_passages,
                    answerer.config.max_sentence_chars,
                )
            if q.answer and variant == "asked":
                c.labels = [int(span_hit([x.unit.text], q.answer, 1)) for x in c.cands]
            c.fold = zlib.crc32(group.encode()) % folds
            cases.append(c)
        if n % 100 == 0:
            log.info("candidates for %d/%d questions", n, len(queries))
    return cases


def _judge(answerer: Answerer, c: Case, ranker: AnswerModel | None) -> Judged:
    """The answer the pipeline would give with this ranker; confidence by the rules (the support
    model is applied to `signals` afterwards), threshold applied later."""
    if not c.cands:
        return Judged(c.query.id, c.query.text, c.answerable, c.query.answer, c.relevant, 0.0, (), None, {}, None)
    ranked = selection.score(c.cands, ranker)
    cfg = answerer.config
    chosen = selection.pick(ranked, cfg.max_sentences, answerer.follow_ratio(ranker))
    sentences = [answerer._sentence(x, dups) for x, dups in chosen]
    conf, signals = answerer.confidence(c.hits, c.terms, ranked, sentences, c.query.text)
    return Judged(
        c.query.id + ("" if c.variant == "asked" else "#masked"),
        c.query.text,
        c.answerable,
        c.query.answer if c.variant == "asked" else None,
        c.relevant if c.variant == "asked" else frozenset(),
        conf,
        tuple(s.text for s in sentences),
        sentences[0].citation.doc_id if sentences else None,
        signals,
        c.query.style or "",
    )


# The sentence rankers compared out of fold in one run: (name, kind, features). The first is the
# reference (the logistic ranker on the features it had before question-type features were added).
RANKERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("logistic-base", "logistic", BASE_SENTENCE_FEATURES),
    ("logistic", "logistic", SENTENCE_FEATURES),
    ("lambdarank-base", "lambdarank", BASE_SENTENCE_FEATURES),
    ("lambdarank", "lambdarank", SENTENCE_FEATURES),
)


def _fit_ranker(cases: Sequence[Case], kind: str = "logistic", features: Sequence[str] = SENTENCE_FEATURES):
    rows, labels, groups = [], [], []
    for c in cases:
        if not c.cands:
            continue
        for x, y in zip(c.cands, c.labels, strict=True):
            rows.append(x.features)
            labels.append(y)
        groups.append(len(c.cands))
    if kind == "logistic":
        return fit_logistic(rows, labels, features)
    return fit_trees(rows, labels, groups, features, objective=kind)


def _ranker_oof(
    answerer: Answerer, cases: Sequence[Case], folds: int, sets: dict[str, set[str]], kind: str, features
) -> tuple[dict, dict[int, Any]]:
    """Every fold's ranker (trained on the others) and its out-of-fold answers, no abstention."""
    models = {f: _fit_ranker([c for c in cases if c.labels and c.fold != f], kind, features) for f in range(folds)}
    judged = [_judge(answerer, c, models[c.fold]) for c in cases if c.variant == "asked"]
    return _report(judged, 0.0, sets), models


def _hit3(report: dict, names: Sequence[str]) -> float:
    """Mean answer hit@3 over the sets `names` (each counts once, so the small resident set is heard)."""
    return sum(report[n]["answer_hit@3_no_abstention"] for n in names) / max(len(names), 1)


def _summary(judged: Sequence[Judged], threshold: float) -> dict[str, Any]:
    m = metrics_at(judged, threshold)
    keys = ("answer_hit@1", "answer_hit@3", "citation_doc_hit@1", "abstain_precision", "abstain_recall")
    out = {k: m[k] for k in keys} | {"false_abstention_rate": m["false_abstention_rate"], "queries": m["queries"]}
    out["answer_hit@1_no_abstention"] = m["answer_hit@1_no_abstention"]
    out["answer_hit@3_no_abstention"] = m["answer_hit@3_no_abstention"]
    return out


def _report(judged: Sequence[Judged], threshold: float, sets: dict[str, set[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"all": _summary(judged, threshold)}
    for name, ids in sets.items():
        sub = [j for j in judged if j.qid in ids]
        out[name] = _summary(sub, threshold)
        for st in sorted({j.style for j in sub if j.style}):
            out[f"{name}/{st}"] = _summary([j for j in sub if j.style == st], threshold)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = answers_parser()
    p.prog = "python -m eval answers train"
    p.description = __doc__.split("\n")[0]
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--inner-folds", type=int, default=5, help="folds inside each training part: threshold, Platt")
    p.add_argument(
        "--ranker",
        default="auto",
        choices=["auto", *(n for n, _, _ in RANKERS)],
        help="sentence ranker; auto: all of them out of fold, the best mean answer hit@3 is used",
    )
    p.add_argument("--max-false-abstention", type=float, default=0.05)
    p.add_argument("--write", action="store_true", help="write the fitted models into --resources-dir")
    p.add_argument("--resources-dir", type=Path, default=RESOURCES)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        queries, qrels = load_sets(args)
    except (BeirFormatError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    index = open_index(args)
    answerer = pipeline_for(index, None, rules=True).answerer
    cases = build_cases(answerer, queries, qrels, args.folds)
    sets = {}
    for qp in args.queries + args.extra_unanswerable:
        ids = {q.id for q in queries if q.id in {x.id for x in _ids(qp)}}
        sets[qp.parent.name if qp.name == "queries.jsonl" else qp.stem] = ids
    asked = [c for c in cases if c.variant == "asked"]

    # Before: the rules on the same candidates (and their hand-weighted confidence).
    before = [_judge(answerer, c, None) for c in asked]
    # Sentence rankers out of fold, side by side; the best mean hit@3 over the sets is the one used.
    ranker_oof: dict[str, dict] = {}
    fold_models: dict[str, dict[int, Any]] = {}
    for name, kind, feats in RANKERS if args.ranker == "auto" else [r for r in RANKERS if r[0] == args.ranker]:
        ranker_oof[name], fold_models[name] = _ranker_oof(answerer, cases, args.folds, sets, kind, feats)
        log.info("ranker %s OOF: %s", name, {k: v for k, v in ranker_oof[name]["all"].items() if "no_abst" in k})
    with_spans = [n for n, ids in sets.items() if any(q.answer for q in queries if q.id in ids)]
    chosen = max(ranker_oof, key=lambda n: _hit3(ranker_oof[n], with_spans))
    chosen_kind, chosen_feats = next((k, f) for n, k, f in RANKERS if n == chosen)
    rankers = fold_models[chosen]
    oof = {id(c): _judge(answerer, c, rankers[c.fold]) for c in cases}
    after_rank = [oof[id(c)] for c in asked]
    # Abstention out of fold on the ranker's OOF signals (eval.abstention_cv): the calibrated rule
    # confidence and the model, each with its threshold chosen out of fold; masked twins train only.
    rows = [
        abstention_cv.Row(j, c.group, abstention_cv.label_of(j, c.variant == "masked"), c.variant == "masked")
        for c, j in ((c, oof[id(c)]) for c in cases)
    ]
    b_threshold = abstention.DEFAULT_ABSTAIN_THRESHOLD
    abst, detail = abstention_cv.evaluate(
        rows, abstention_cv.CANDIDATES, b_threshold, args.folds, args.inner_folds, args.max_false_abstention
    )
    # The label policy's alternative, for the record: wrong answers to answerable questions as negatives.
    strict = [replace(r, label=0) if r.label is None else r for r in rows]
    alt, _ = abstention_cv.nested(strict, abstention_cv.CANDIDATES["model"], args.folds, args.inner_folds)
    abst["model_with_wrong_answers_as_negatives"] = abstention_cv.summary(alt, 0.5)
    best = abst["better_out_of_fold"]
    after, scored = detail[best]
    threshold = abst["candidates"][best]["threshold_oof"]
    report = {
        "folds": args.folds,
        "grouping": "gold document cluster: versions and interpretations together (crc32 % folds)",
        "ranker_chosen": chosen,
        "rankers_oof_no_abstention": ranker_oof,
        "before_rules": {"threshold": b_threshold, **_report(before, b_threshold, sets)},
        "after_ranker_rule_confidence": {"threshold": b_threshold, **_report(after_rank, b_threshold, sets)},
        # Nested out of fold: each fold's threshold chosen on the other folds (0.5 applies it).
        "rule_confidence_threshold_chosen_oof": {"threshold": abst["candidates"]["rule_calibrated"]["threshold_oof"]}
        | _report(detail["rule_calibrated"][0], 0.5, sets),
        "after_oof": {"abstention": best, "threshold": threshold, **_report(after, 0.5, sets)},
        "with_masked_negatives_oof": _summary([r.judged for r in scored], threshold),
        "curve": abst["candidates"][best]["curve_oof"],
        "abstention": abst,
    }
    report["support_model_better_than_rules"] = best == "model"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    sys.stdout.write(
        json.dumps({k: report[k] for k in ("before_rules", "after_oof")}, ensure_ascii=False)[:4000] + "\n"
    )
    if args.write:
        meta = {
            "encoder": getattr(index.encoder, "name", None),
            "trained_on": [str(p) for p in args.queries + args.extra_unanswerable],
            "command": "python -m eval answers train ... --write (eval/answer_train.py)",
        }
        ranker = _fit_ranker([c for c in cases if c.labels], chosen_kind, chosen_feats)
        replace(ranker, meta={**meta, "ranker": chosen, "oof": report["after_oof"]["all"]}).save(
            args.resources_dir / "answer_ranker.json"
        )
        # The abstention model is trained on the pipeline's own answers with this ranker, after it:
        # `python -m eval answers train-abstention ... --write` (eval/abstention_cv.py).
        log.info("wrote answer_ranker.json in %s", args.resources_dir)
    return 0


def _ids(path: Path) -> list[Query]:
    from eval.beir import load_queries

    return list(load_queries(path).values())
