"""Out-of-fold training of the learned ranker (eval/ranker.py) on a tiny set with the fake encoder."""

from __future__ import annotations

import numpy as np
import pytest

from eval import ranker as R
from eval.beir import BeirSet, Query
from index.config import IndexConfig
from index.encoders import FakeEncoder
from index.engine import PolicyIndex

from ..conftest import tiny_docs

QUERIES = {
    "q1": ("高校毕业生社保补贴", "emp"),
    "q2": ("灵活就业社保补贴怎么申请", "emp"),
    "q3": ("义务教育报名材料", "edu"),
    "q4": ("孩子上学要带户口簿吗", "edu"),
    "q5": ("老旧小区改造资金", "new"),
    "q6": ("老旧小区改造范围", "new"),
}


@pytest.fixture(scope="module")
def tiny_set() -> R.SetData:
    idx = PolicyIndex.build(tiny_docs(), IndexConfig(mode="hybrid", chunk_max_chars=60), encoder=FakeEncoder(dim=64))
    data = BeirSet(
        queries={q: Query(q, t) for q, (t, _) in QUERIES.items()},
        qrels={q: {d: 1} for q, (_, d) in QUERIES.items()},
        name="tiny",
    )
    return R.collect("tiny", data, idx, "document")


def test_labels_follow_the_qrels(tiny_set) -> None:
    for qid, X, y in zip(tiny_set.queries, tiny_set.X, tiny_set.y, strict=True):
        got = tiny_set.index.candidates(tiny_set.data.queries[qid].text, R.TOP_K, None, "hybrid")
        assert got is not None
        docs = [tiny_set.index.passages[int(r)].doc_id for r in got[0].rows]
        assert y.tolist() == [int(d == QUERIES[qid][1]) for d in docs]
        assert X.shape == (len(docs), len(R.FEATURES))


def test_folds_are_fixed_and_cover_every_query() -> None:
    keys = [f"s\t{i}" for i in range(10)]
    a, b = R.folds_of(keys, 3, seed=0), R.folds_of(keys, 3, seed=0)
    assert a == b and set(a) == set(keys) and sorted(set(a.values())) == [0, 1, 2]
    assert R.folds_of(keys, 3, seed=1) != a


def test_out_of_fold_report(tiny_set, monkeypatch) -> None:
    monkeypatch.setitem(R.PARAMS, "min_data_in_leaf", 1)  # six queries: trees need tiny leaves
    monkeypatch.setattr(R, "NUM_ROUNDS", 20)
    report = R.run([tiny_set], k=3, seed=0)
    s = report["sets"]["tiny"]
    assert set(s["metrics"]) == {"bm25", "dense", "fusion", "ranker"}
    assert set(s["per_query_ndcg@10"]) == set(QUERIES)
    for wl in s["wins_losses_ndcg@10"].values():
        assert wl["wins"] + wl["losses"] + wl["ties"] == len(QUERIES)
    # every figure is a mean of the per-query values listed
    for cfg, m in s["metrics"].items():
        assert m["ndcg@10"] == pytest.approx(np.mean([v[cfg] for v in s["per_query_ndcg@10"].values()]), abs=1e-3)
    assert tiny_set.index.ranker is None  # folds' models are not left behind on the index
    assert "| tiny | document | ranker |" in R.markdown(report)


def test_a_set_without_relevant_candidates_cannot_train() -> None:
    with pytest.raises(ValueError, match="no query has a relevant candidate"):
        R.train([np.zeros((3, len(R.FEATURES)))], [np.zeros(3, dtype=np.int32)])
