"""Train the answer-sentence ranker and the support (abstention) model, out of fold.

    python -m eval answers train --corpus ../shared/data/corpus/policies.jsonl \
        --queries ../shared/data/eval/ncp-dev/queries.jsonl --qrels ../shared/data/eval/ncp-dev/qrels.tsv \
        --queries ../shared/data/eval/resident-qa-dev/queries.jsonl \
        --qrels ../shared/data/eval/resident-qa-dev/qrels.tsv \
        --extra-unanswerable eval/data/out_of_scope.jsonl --encoder onnx --out var/eval/answer-train [--write]

Candidates and features are those the service computes (index.selection). Folds group queries by
their gold document, so a document's sentences are never scored by a model that saw them. Hard
negatives for the support model: every answerable question asked again with its relevant
documents (and their versions and interpretations) masked out of the index, plus the unanswerable
questions. The abstention threshold is the highest whose out-of-fold false abstention rate stays
<= --max-false-abstention on the dev sets as they are. `--write` stores the models fitted on all
data in index/resources/answer_ranker.json and answer_support.json.
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
from index import selection
from index.answer import Answerer
from index.answer_model import SENTENCE_FEATURES, SUPPORT_FEATURES, LogisticModel, fit_logistic
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


def _related(index: Any, doc_ids: frozenset[str]) -> set[str]:
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


def build_cases(answerer: Answerer, queries: Sequence[Query], qrels: dict, folds: int) -> list[Case]:
    index = answerer.index
    all_ids = frozenset(index.documents)
    cases: list[Case] = []
    for n, q in enumerate(queries):
        rel = frozenset(d for d, s in qrels.get(q.id, {}).items() if s > 0)
        group = sorted(rel)[0] if rel else q.id
        variants = [("asked", bool(rel), None)]
        if rel:
            variants.append(("masked", False, Filters(doc_ids=all_ids - _related(index, rel))))
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


def _judge(answerer: Answerer, c: Case, ranker: LogisticModel | None) -> Judged:
    """The answer the pipeline would give with this ranker; confidence by the rules (the support
    model is applied to `signals` afterwards), threshold applied later."""
    if not c.cands:
        return Judged(c.query.id, c.query.text, c.answerable, c.query.answer, c.relevant, 0.0, (), None, {}, None)
    ranked = selection.score(c.cands, ranker)
    cfg = answerer.config
    chosen = selection.pick(ranked, cfg.max_sentences, answerer.follow_ratio(ranker))
    sentences = [answerer._sentence(x, dups) for x, dups in chosen]
    conf, signals = answerer.confidence(c.hits, c.terms, ranked, sentences)
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


def _fit_ranker(cases: Sequence[Case]) -> LogisticModel:
    rows, labels = [], []
    for c in cases:
        for x, y in zip(c.cands, c.labels, strict=True):
            rows.append(x.features)
            labels.append(y)
    return fit_logistic(rows, labels, SENTENCE_FEATURES)


def _fit_support(judged: Sequence[Judged]) -> LogisticModel:
    return fit_logistic([j.signals for j in judged], [int(j.answerable) for j in judged], SUPPORT_FEATURES)


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


def choose_threshold(
    judged: Sequence[Judged], max_far: float, min_precision: float = 0.90
) -> tuple[float, list[dict[str, Any]]]:
    """Among thresholds whose false abstention rate is <= max_far: the one abstaining most among those
    with precision >= min_precision, else (the goal is out of reach) the most precise one, more recall
    breaking ties. Ignores thresholds that abstain on nothing unanswerable."""
    curve = [metrics_at(judged, t / 100) for t in range(101)]
    ok = [m for m in curve if m["false_abstention_rate"] <= max_far and m["abstained_correctly"] > 0]
    if not ok:
        return curve[0]["threshold"], curve
    good = [m for m in ok if m["abstain_precision"] >= min_precision]
    if good:
        best = max(good, key=lambda m: (m["abstain_recall"], -m["threshold"]))
    else:
        best = max(ok, key=lambda m: (m["abstain_precision"], m["abstain_recall"], -m["threshold"]))
    return best["threshold"], curve


def _beats(learned: dict[str, Any], rule: dict[str, Any]) -> bool:
    """The learned operating point is better: more abstention recall at precision >= 0.9, else more precision."""

    def key(m: dict[str, Any]) -> tuple:
        return (
            m["abstain_precision"] >= 0.9,
            m["abstain_recall"] if m["abstain_precision"] >= 0.9 else m["abstain_precision"],
        )

    return key(learned) > key(rule)


def build_parser() -> argparse.ArgumentParser:
    p = answers_parser()
    p.prog = "python -m eval answers train"
    p.description = __doc__.split("\n")[0]
    p.add_argument("--folds", type=int, default=5)
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
    # Ranker out of fold.
    rankers = {f: _fit_ranker([c for c in cases if c.labels and c.fold != f]) for f in range(args.folds)}
    oof = {id(c): _judge(answerer, c, rankers[c.fold]) for c in cases}
    after_rank = [oof[id(c)] for c in asked]
    # Support model out of fold on the ranker's OOF signals, masked negatives included in training.
    supports = {f: _fit_support([oof[id(c)] for c in cases if c.fold != f and c.cands]) for f in range(args.folds)}
    after = [
        replace(j, confidence=supports[c.fold].prob(j.signals)) if j.signals else j
        for c, j in ((c, oof[id(c)]) for c in asked)
    ]
    masked = [
        replace(j, confidence=supports[c.fold].prob(j.signals)) if j.signals else j
        for c, j in ((c, oof[id(c)]) for c in cases if c.variant == "masked")
    ]
    threshold, curve = choose_threshold(after, args.max_false_abstention)
    b_threshold = answerer.calibrated_threshold
    r_threshold, r_curve = choose_threshold(after_rank, args.max_false_abstention)
    report = {
        "folds": args.folds,
        "grouping": "gold document (crc32 % folds)",
        "before_rules": {"threshold": b_threshold, **_report(before, b_threshold, sets)},
        "after_ranker_rule_confidence": {"threshold": b_threshold, **_report(after_rank, b_threshold, sets)},
        "rule_confidence_threshold_chosen_oof": {"threshold": r_threshold, **_report(after_rank, r_threshold, sets)},
        "after_oof": {"threshold": threshold, **_report(after, threshold, sets)},
        "with_masked_negatives_oof": _summary(after + masked, threshold),
        "curve": [
            {k: m[k] for k in ("threshold", "abstain_precision", "abstain_recall", "false_abstention_rate")}
            for m in curve[::5]
        ],
        "curve_rule_confidence": [
            {k: m[k] for k in ("threshold", "abstain_precision", "abstain_recall", "false_abstention_rate")}
            for m in r_curve[::5]
        ],
    }
    report["support_model_better_than_rules"] = _beats(
        report["after_oof"]["all"], report["rule_confidence_threshold_chosen_oof"]["all"]
    )
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
        ranker = _fit_ranker([c for c in cases if c.labels])
        replace(ranker, meta={**meta, "oof": report["after_oof"]["all"]}).save(
            args.resources_dir / "answer_ranker.json"
        )
        path = args.resources_dir / "answer_support.json"
        if report["support_model_better_than_rules"]:
            full = [_judge(answerer, c, ranker) for c in cases]
            support = _fit_support([j for j, c in zip(full, cases, strict=True) if c.cands])
            rule = f"OOF: precision >= 0.90 at FAR <= {args.max_false_abstention}, else the most precise"
            replace(support, threshold=threshold, meta={**meta, "threshold_rule": rule}).save(path)
        else:
            # Not better out of fold than the rule confidence: not shipped (the rules answer).
            log.info("support model no better than the rule confidence out of fold: not written")
            path.unlink(missing_ok=True)
        log.info("wrote answer_ranker.json and answer_support.json in %s", args.resources_dir)
    return 0


def _ids(path: Path) -> list[Query]:
    from eval.beir import load_queries

    return list(load_queries(path).values())
