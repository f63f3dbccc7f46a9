"""Regression gate: BM25 on the full ncp-dev set must keep nDCG@10 above a floor."""

from __future__ import annotations

import pytest

from corpus.loaders import load_corpus
from eval.beir import dataset_paths, load_set
from eval.harness import Config, ModeRetriever, evaluate
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex

# Set by the lead from a measured run; lower it only with a reason in the commit message.
NCP_BM25_NDCG10_FLOOR = 0.83  # measured 0.846 (README, Evaluation)


@pytest.mark.slow
@pytest.mark.shared
def test_ncp_dev_bm25_ndcg_floor(shared_dir):
    queries, qrels, corpus = dataset_paths("ncp-dev", shared_dir / "data")
    data = load_set(queries, qrels, corpus, name="ncp-dev")
    index = PolicyIndex.build(load_corpus(corpus), IndexConfig())
    ev = evaluate(Config("bm25", ModeRetriever(index, SearchMode.BM25)), data, top_k=100)
    assert ev.n_judged == len(data.queries) == 877
    assert ev.n_errors == 0
    ndcg = ev.metrics["ndcg@10"]
    assert ndcg >= NCP_BM25_NDCG10_FLOOR, f"ncp-dev BM25 nDCG@10 {ndcg:.4f} < floor {NCP_BM25_NDCG10_FLOOR}"
