"""Retrieval and answer-span metrics: pure functions, no state, inputs left untouched.

A run is `{query_id: {doc_id: score}}`; qrels are `{query_id: {doc_id: relevance}}`
with relevance > 0 meaning relevant. Ranking a query's docs sorts by score,
descending; ties keep the run's insertion order (the retriever's own order).

Definitions (k is the cut-off):
- recall@k  = |relevant in top k| / |relevant|
- mrr@k     = 1 / rank of the first relevant doc in the top k, else 0
- ndcg@k    = DCG@k / IDCG@k, DCG = sum_i gain_i / log2(i + 1) over ranks i = 1..k,
              gain = relevance (graded) or 1 (binary); IDCG sorts the qrels' gains.
- answer_hit@k = 1 if any of the top-k passages contains the gold answer after
              removing all whitespace from both, else 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

RECALL_KS: tuple[int, ...] = (1, 5, 10, 100)
ANSWER_KS: tuple[int, ...] = (1, 5, 10)
PRIMARY_METRIC = "ndcg@10"

_WS = re.compile(r"\s+")


def rank(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by descending score; stable, so equal scores keep insertion order."""
    return sorted(scores, key=lambda d: -scores[d])


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    _check_k(k)
    relevant = {d for d, r in relevance.items() if r > 0}
    if not relevant:
        raise ValueError("recall is undefined for a query without relevant documents")
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    _check_k(k)
    for i, d in enumerate(ranked[:k], 1):
        if relevance.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


def dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, 1))


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int, graded: bool = True) -> float:
    """nDCG with linear gains (graded) or 0/1 gains (binary); the ideal ranking comes from the qrels."""
    _check_k(k)

    def gain(r: int) -> float:
        if r <= 0:
            return 0.0
        return float(r) if graded else 1.0

    ideal = dcg(sorted((gain(r) for r in relevance.values() if r > 0), reverse=True)[:k])
    if ideal == 0:
        raise ValueError("nDCG is undefined for a query without relevant documents")
    return dcg(gain(relevance.get(d, 0)) for d in ranked[:k]) / ideal


def normalise_ws(text: str) -> str:
    """Drop all whitespace: spacing in Chinese text is layout, not content."""
    return _WS.sub("", text)


def answer_hit_at_k(passages: Sequence[str], answer: str, k: int) -> float:
    """1.0 if any of the first k passage texts contains `answer` (whitespace-insensitive)."""
    _check_k(k)
    needle = normalise_ws(answer)
    if not needle:
        raise ValueError("answer must contain non-whitespace text")
    return 1.0 if any(needle in normalise_ws(p) for p in passages[:k]) else 0.0


def query_metrics(
    scores: Mapping[str, float],
    relevance: Mapping[str, int],
    recall_ks: Sequence[int] = RECALL_KS,
    graded: bool = True,
) -> dict[str, float]:
    """nDCG@10, MRR@10 and recall@k of one judged query."""
    ranked = rank(scores)
    out = {
        "ndcg@10": ndcg_at_k(ranked, relevance, 10, graded=graded),
        "mrr@10": mrr_at_k(ranked, relevance, 10),
    }
    for k in recall_ks:
        out[f"recall@{k}"] = recall_at_k(ranked, relevance, k)
    return out


def answer_metrics(passages: Sequence[str], answer: str, ks: Sequence[int] = ANSWER_KS) -> dict[str, float]:
    return {f"answer_hit@{k}": answer_hit_at_k(passages, answer, k) for k in ks}


def evaluate_run(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    recall_ks: Sequence[int] = RECALL_KS,
    graded: bool = True,
) -> dict[str, dict[str, float]]:
    """Per-query retrieval metrics of every judged query (one with a relevant doc).

    A judged query missing from the run scores 0 everywhere: it retrieved nothing.
    """
    per_query: dict[str, dict[str, float]] = {}
    for qid, relevance in qrels.items():
        if not any(r > 0 for r in relevance.values()):
            continue
        per_query[qid] = query_metrics(run.get(qid, {}), relevance, recall_ks, graded)
    return per_query


def mean(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Average of each metric over the queries that have it."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for values in per_query.values():
        for name, v in values.items():
            sums[name] = sums.get(name, 0.0) + v
            counts[name] = counts.get(name, 0) + 1
    return {name: sums[name] / counts[name] for name in sums}
