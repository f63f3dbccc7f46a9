"""Run retriever configurations over a BEIR query set and write their metrics.

The harness only calls `Retriever.search` and reads `Hit`/`Passage` data, so any
retriever (the real index in some mode, a fake in tests) can be evaluated.
Retrieval is at passage level, judgment at the level of the qrels (`judged_on`):
"document" ranks documents, "article" ranks the source rows passages were cut from
(`Passage.source_ids`, e.g. law articles); a unit's score is its best passage's score,
its rank follows from that. `judgment_level` tells the two apart from the corpus.

Output of one configuration (in DIR): `metrics.json`, `run.trec`, `report.md`.
Several configurations: the same under DIR/<name>/ plus `comparison.json` and
`comparison.md`, with per-query nDCG@10 wins and losses against the first one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval import metrics as M
from eval.beir import BeirSet, has_relevant
from eval.report import comparison_markdown, evaluation_markdown
from index.types import Filters, Hit, Retriever

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
LEVELS = ("document", "article")
TOP_LIST = 10  # biggest wins/losses listed per configuration
_EPS = 1e-9  # nDCG differences below this are ties (float noise)


@dataclass(frozen=True)
class Config:
    """A named retriever to evaluate; `description` is plain JSON-able data for the report."""

    name: str
    retriever: Retriever
    description: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ \t") or self.name.startswith("."):
            raise ValueError(f"config name must be a non-empty word usable as a folder name, got {self.name!r}")


@dataclass(frozen=True)
class QueryRun:
    """What one query retrieved: documents ranked by best passage, and the passages themselves."""

    query_id: str
    docs: tuple[tuple[str, float], ...]
    passages: tuple[str, ...]
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Evaluation:
    name: str
    description: Mapping[str, Any]
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    runs: dict[str, QueryRun]
    n_judged: int
    n_unjudged: int
    n_answers: int
    latency_ms: dict[str, float]
    top_k: int
    passages: int = 0
    dataset: str = ""
    judged_on: str = "document"

    @property
    def n_queries(self) -> int:
        return len(self.runs)

    @property
    def n_errors(self) -> int:
        return sum(1 for r in self.runs.values() if r.error)

    def to_json(self) -> dict[str, Any]:
        errors = {q: r.error for q, r in self.runs.items() if r.error}
        return {
            "name": self.name,
            "config": dict(self.description),
            "dataset": self.dataset,
            "judged_on": self.judged_on,
            "primary_metric": M.PRIMARY_METRIC,
            **self.metrics,
            "n_queries": self.n_queries,
            "n_judged": self.n_judged,
            "n_unjudged": self.n_unjudged,
            "n_answers": self.n_answers,
            "n_errors": len(errors),
            "errors": errors,
            "top_k": self.top_k,
            "passages": self.passages,
            "latency_ms": self.latency_ms,
            "per_query": self.per_query,
        }


@dataclass(frozen=True)
class ModeRetriever:
    """An index searched in one fixed mode (e.g. PolicyIndex with SearchMode.BM25) as a plain Retriever."""

    index: Any
    mode: Any

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]:
        return self.index.search(query, top_k, filters, mode=self.mode)


@dataclass(frozen=True)
class RankerRetriever:
    """An index searched in hybrid mode with a learned ranker over its candidates (index.ranking)."""

    index: Any
    ranker: Any

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]:
        prev, self.index.ranker = self.index.ranker, self.ranker
        try:
            return self.index.search(query, top_k, filters, mode="hybrid")
        finally:
            self.index.ranker = prev


def documents_from_hits(hits: Sequence[Hit], level: str = "document") -> list[tuple[str, float]]:
    """Documents (or, at "article" level, source rows) ranked by their best passage score (ties: first seen first)."""
    _check_level(level)
    best: dict[str, float] = {}
    for h in hits:
        for unit in (h.doc_id,) if level == "document" else h.passage.source_ids:
            if unit not in best or h.score > best[unit]:
                best[unit] = h.score
    return [(d, best[d]) for d in M.rank(best)]


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"judgment level must be one of {', '.join(LEVELS)}, got {level!r}")


def judgment_level(qrels: Mapping[str, Mapping[str, int]], doc_ids: Iterable[str], source_ids: Iterable[str]) -> str:
    """ "document" if the judged ids are documents of the corpus, "article" if they are its source rows.

    Whichever names more of the judged ids wins (documents on a tie, as in a policy corpus where
    every passage's source is its document); a set whose ids are neither raises ValueError.
    """
    judged = {d for rel in qrels.values() for d, r in rel.items() if r > 0}
    if not judged:
        return "document"
    in_docs = len(judged.intersection(doc_ids))
    in_sources = len(judged.intersection(source_ids))
    if not in_docs and not in_sources:
        sample = ", ".join(sorted(judged)[:3])
        raise ValueError(f"no judged id ({sample}, ...) is a document or source row of the corpus")
    return "document" if in_docs >= in_sources else "article"


def retrieve(
    retriever: Retriever,
    data: BeirSet,
    top_k: int = 100,
    progress: Progress | None = None,
    label: str = "",
    passages: int | None = None,
    level: str = "document",
) -> dict[str, QueryRun]:
    """Search every query once for `passages` passages (default top_k), timing each call.

    Documents are ranked by best passage and cut at top_k; asking for more
    passages than top_k lets several passages of one document still leave
    top_k distinct documents for recall@100.

    A query the retriever rejects with ValueError (e.g. too long) retrieves
    nothing and is recorded with its error rather than stopping the run.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    _check_level(level)
    n_passages = top_k if passages is None else passages
    if n_passages < top_k:
        raise ValueError(f"passages must be >= top_k ({top_k}), got {n_passages}")
    runs: dict[str, QueryRun] = {}
    total = len(data.queries)
    for i, q in enumerate(data.queries.values(), 1):
        error = None
        t0 = time.perf_counter()
        try:
            hits = retriever.search(q.text, n_passages, None)
        except ValueError as e:
            hits, error = [], str(e)
            log.warning("query %s rejected: %s", q.id, e)
        seconds = time.perf_counter() - t0
        runs[q.id] = QueryRun(
            query_id=q.id,
            docs=tuple(documents_from_hits(hits, level)[:top_k]),
            passages=tuple(h.passage.text for h in hits),
            seconds=seconds,
            error=error,
        )
        if progress is not None:
            progress(f"{label} queries".strip(), i, total)
    return runs


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    ms = np.asarray(seconds, dtype=float) * 1000.0
    return {
        "p50": round(float(np.percentile(ms, 50)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "mean": round(float(ms.mean()), 3),
    }


def score(runs: Mapping[str, QueryRun], data: BeirSet) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metrics: retrieval ones on judged queries, answer hits where there is an answer."""
    judged = {q: data.qrels[q] for q in data.judged_ids() if q in runs}
    doc_run = {q: dict(runs[q].docs) for q in judged}
    per_query = M.evaluate_run(doc_run, judged)
    for q in data.queries.values():
        if q.answer and q.id in runs:
            per_query.setdefault(q.id, {}).update(M.answer_metrics(runs[q.id].passages, q.answer))
    # Keep query-file order so the JSON reads like the set.
    ordered = {q: per_query[q] for q in data.queries if q in per_query}
    return M.mean(ordered), ordered


def evaluate(
    config: Config,
    data: BeirSet,
    top_k: int = 100,
    progress: Progress | None = None,
    passages: int | None = None,
    judged_on: str = "document",
) -> Evaluation:
    runs = retrieve(config.retriever, data, top_k, progress, label=config.name, passages=passages, level=judged_on)
    means, per_query = score(runs, data)
    n_judged = sum(1 for q in runs if has_relevant(data.qrels.get(q)))
    return Evaluation(
        name=config.name,
        description=dict(config.description),
        metrics={k: round(v, 6) for k, v in means.items()},
        per_query=per_query,
        runs=runs,
        n_judged=n_judged,
        n_unjudged=len(runs) - n_judged,
        n_answers=sum(1 for q in runs if data.queries[q].answer),
        latency_ms=latency_summary([r.seconds for r in runs.values()]),
        top_k=top_k,
        passages=top_k if passages is None else passages,
        dataset=data.name,
        judged_on=judged_on,
    )


def trec_lines(ev: Evaluation) -> list[str]:
    """TREC run format: qid Q0 docid rank score tag."""
    lines = []
    for qid, r in ev.runs.items():
        for i, (doc, s) in enumerate(r.docs, 1):
            lines.append(f"{qid} Q0 {doc} {i} {s:.6f} {ev.name}")
    return lines


def write_evaluation(ev: Evaluation, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(ev.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "run.trec").write_text("\n".join(trec_lines(ev)) + "\n", encoding="utf-8")
    (out / "report.md").write_text(evaluation_markdown(ev.to_json()), encoding="utf-8")
    return out


def wins_losses(
    baseline: Evaluation, other: Evaluation, data: BeirSet, metric: str = M.PRIMARY_METRIC, top: int = TOP_LIST
) -> dict[str, Any]:
    """Per-query differences of `other` against `baseline` on queries both scored on `metric`."""
    diffs = []
    for qid, values in baseline.per_query.items():
        if metric not in values or metric not in other.per_query.get(qid, {}):
            continue
        b, o = values[metric], other.per_query[qid][metric]
        diffs.append({"query_id": qid, "text": data.queries[qid].text, "baseline": b, "value": o, "delta": o - b})
    wins = sorted((d for d in diffs if d["delta"] > _EPS), key=lambda d: -d["delta"])
    losses = sorted((d for d in diffs if d["delta"] < -_EPS), key=lambda d: d["delta"])
    return {
        "metric": metric,
        "baseline": baseline.name,
        "wins": len(wins),
        "losses": len(losses),
        "ties": len(diffs) - len(wins) - len(losses),
        "top_wins": wins[:top],
        "top_losses": losses[:top],
    }


def comparison(evals: Sequence[Evaluation], data: BeirSet) -> dict[str, Any]:
    if not evals:
        raise ValueError("comparison needs at least one evaluation")
    base = evals[0]
    return {
        "dataset": data.name,
        "judged_on": base.judged_on,
        "primary_metric": M.PRIMARY_METRIC,
        "baseline": base.name,
        "configs": {
            ev.name: {
                "config": dict(ev.description),
                "metrics": ev.metrics,
                "latency_ms": ev.latency_ms,
                "n_queries": ev.n_queries,
                "n_judged": ev.n_judged,
                "n_unjudged": ev.n_unjudged,
            }
            for ev in evals
        },
        "vs_baseline": {ev.name: wins_losses(base, ev, data) for ev in evals[1:]},
    }


def run(
    configs: Sequence[Config],
    data: BeirSet,
    out_dir: str | Path,
    top_k: int = 100,
    progress: Progress | None = None,
    passages: int | None = None,
    judged_on: str = "document",
) -> list[Evaluation]:
    """Evaluate each configuration and write the results; one config writes straight into out_dir."""
    if not configs:
        raise ValueError("at least one configuration is required")
    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"configuration names must be unique, got {names}")
    out = Path(out_dir)
    evals = []
    for c in configs:
        ev = evaluate(c, data, top_k, progress, passages, judged_on)
        write_evaluation(ev, out if len(configs) == 1 else out / c.name)
        log.info("%s: %s=%.4f", c.name, M.PRIMARY_METRIC, ev.metrics.get(M.PRIMARY_METRIC, float("nan")))
        evals.append(ev)
    if len(configs) > 1:
        cmp = comparison(evals, data)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps(cmp, ensure_ascii=False, indent=2), encoding="utf-8")
        (out / "comparison.md").write_text(comparison_markdown(cmp), encoding="utf-8")
    return evals
