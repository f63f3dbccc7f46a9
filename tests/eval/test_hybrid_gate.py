"""Regression gate for hybrid retrieval with the real offline model, sized for CI.

Encoding the whole policy corpus takes too long for CI on two cores, so the gate uses
a fixed subset: the first 120 judged ncp-dev questions and all judged resident-qa-dev
questions, over their relevant documents plus every 25th other document as
distractors (about 390 documents). On it, hybrid must beat both halves on both
kinds of questions, and stay above floors measured on this same subset.
"""

from __future__ import annotations

import json

import pytest

from eval.beir import dataset_paths, load_set
from eval.harness import Config, ModeRetriever, evaluate
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex

N_NCP = 120
DISTRACTOR_EVERY = 25
# Measured on this subset: ncp-dev BM25 0.954 / dense 0.888 / hybrid 0.953; resident-qa-dev
# 0.925 / 0.957 / 0.970. Lower only with a reason in the commit message.
FLOORS = {"ncp-dev": 0.93, "resident-qa-dev": 0.95}
# With few distractors BM25 is near its ceiling on the ncp subset (the full set shows the
# real gap: 0.846 -> 0.869); one question's rank swap moves nDCG@10 by ~0.008 here.
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def subset(shared_dir, tmp_path_factory):
    sets = {}
    for name in ("ncp-dev", "resident-qa-dev"):
        q, r, c = dataset_paths(name, shared_dir / "data")
        data = load_set(q, r, c, name=name)
        if name == "ncp-dev":
            data = data.limit(N_NCP)
        sets[name] = data
    needed = {d for data in sets.values() for qid in data.judged_ids() for d in data.qrels[qid]}
    out = tmp_path_factory.mktemp("gate") / "corpus.jsonl"
    with open(sets["ncp-dev"].corpus_path, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if json.loads(line)["_id"] in needed or i % DISTRACTOR_EVERY == 0:
                dst.write(line)
    return sets, out


@pytest.fixture(scope="module")
def gate_index(subset, real_encoder, tmp_path_factory):
    _, corpus = subset
    return PolicyIndex.open_or_build(corpus, tmp_path_factory.mktemp("idx"), IndexConfig(), encoder=real_encoder)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("name", ["ncp-dev", "resident-qa-dev"])
def test_hybrid_beats_both_halves(subset, gate_index, name):
    data = subset[0][name]
    scores = {}
    for mode in (SearchMode.BM25, SearchMode.DENSE, SearchMode.HYBRID):
        ev = evaluate(Config(mode.value, ModeRetriever(gate_index, mode)), data, top_k=100, passages=300)
        assert ev.n_errors == 0
        scores[mode.value] = ev.metrics["ndcg@10"]
    print(f"\n{name} subset nDCG@10: {scores}")  # shown in CI logs with -rA / on failure
    best_half = max(scores["bm25"], scores["dense"])
    assert scores["hybrid"] >= best_half - TOLERANCE, f"{name}: {scores}"
    assert scores["hybrid"] >= FLOORS[name], f"{name}: hybrid nDCG@10 {scores['hybrid']:.4f} < {FLOORS[name]}"
