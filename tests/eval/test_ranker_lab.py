"""The ranker lab re-orders collected candidates exactly as PolicyIndex.search does, and its recipes
(eval/ranker_models.py) train, score and become the serving artifact unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.library import link_documents
from corpus.loaders import law_from_articles
from eval import ranker_lab as L
from eval import ranker_models as RM
from index import ranking
from index.config import IndexConfig
from index.encoders import FakeEncoder
from index.engine import PolicyIndex
from index.ranking import FEATURES

from ..conftest import tiny_docs

COL = {f: i for i, f in enumerate(FEATURES)}


def _qdata(idx: PolicyIndex, query: str) -> RM.QData:
    got = idx.candidates(query, L.TOP_K, None, "hybrid")
    assert got is not None
    c, _ = got
    X = idx._features.features(c, idx.passages, idx.documents)
    units = [(idx.passages[int(r)].doc_id,) for r in c.rows]
    return RM.QData(X, np.zeros(len(c.rows), int), c.fused, idx._stale_rows(c.rows), c.looked_up, units)


@pytest.fixture(scope="module")
def idx() -> PolicyIndex:
    rows = [
        {"_id": f"{v}-1", "title": "某某条例", "chapter": "", "article": "第一条", "text": "第一条 养犬应当登记。"}
        for v in ("a", "b")
    ]
    laws = link_documents([law_from_articles("A", rows[:1]), law_from_articles("B", rows[1:])])
    return PolicyIndex.build(tiny_docs() + laws, IndexConfig(mode="hybrid", chunk_max_chars=60), FakeEncoder(dim=64))


@pytest.mark.parametrize(
    "query", ["高校毕业生社保补贴", "济历城政办字〔2025〕13号 社保补贴", "养犬登记", "老旧小区改造"]
)
def test_emulated_order_is_the_search_order(idx, query) -> None:
    """Stale penalty (superseded law A, expired tax), lookup bonus (文号) and units by best passage."""
    q = _qdata(idx, query)
    want = {}
    for h in idx.search(query, L.TOP_K):
        want.setdefault(h.doc_id, h.score)
    assert list(L.ordered_run(q, q.fused, idx.config.stale_penalty, squash=False).items()) == list(want.items())
    ranker = _ByFeature("bm25_norm")
    idx.ranker = ranker
    try:
        want_r = {}
        for h in idx.search(query, L.TOP_K):
            want_r.setdefault(h.doc_id, h.score)
    finally:
        idx.ranker = None
    got = L.ordered_run(q, ranker.score(q.X), idx.config.stale_penalty, squash=True)
    assert list(got) == list(want_r) and np.allclose(list(got.values()), list(want_r.values()))


class _ByFeature:
    def __init__(self, name: str) -> None:
        self.col = COL[name]

    def score(self, X: np.ndarray) -> np.ndarray:
        return X[:, self.col] * 4 - 2


def _toy(n_q: int = 40, seed: int = 0) -> list[RM.QData]:
    """Relevance follows dense_norm; the fusion score is a noisy copy of it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_q):
        X = rng.random((30, len(FEATURES)))
        y = (X[:, COL["dense_norm"]] > 0.8).astype(int)
        X[:, COL["fused"]] = 0.5 * X[:, COL["dense_norm"]] + 0.5 * rng.random(30)
        out.append(RM.QData(X, y, X[:, COL["fused"]], np.zeros(30, bool), np.zeros(30, bool), []))
    return out


def test_query_weights_make_every_set_weigh_the_same() -> None:
    w = RM.query_weights([877, 112, 516], "set")
    assert [round(a * n) for a, n in zip(w, [877, 112, 516], strict=True)] == [502, 502, 502]  # 1505 / 3 each
    assert RM.query_weights([877, 112], "none") == [1.0, 1.0]


@pytest.mark.parametrize(
    "recipe",
    [
        RM.Variant("trees", params={"min_data_in_leaf": 5}, rounds=20),
        RM.Variant("blend", params={"min_data_in_leaf": 5}, rounds=20, init_fused=4.0),
        RM.Variant("linear", linear=True),
        RM.Variant("linear_blend", linear=True, init_fused=1.0),
        RM.Variant("trees_top", params={"min_data_in_leaf": 5}, rounds=20, rerank_top=10),
    ],
)
def test_recipes_learn_and_ship_as_they_score(recipe) -> None:
    train, test = _toy(seed=0), _toy(n_q=5, seed=1)
    model = RM.Model(recipe).fit(train, [1.0] * len(train))
    art = RM.to_ranker(model, {"command": "test"})
    for q in test:
        s = model.score(q)
        assert np.allclose(art.score(q.X), s, atol=1e-9)  # the artifact scores as the trained model
        top = np.argsort(-s)[:3]
        assert q.y[top].mean() > q.y.mean()  # it learned the relevant feature


def test_a_recipe_with_derived_features_cannot_ship() -> None:
    model = RM.Model(RM.Variant("z", derived=("z",), linear=True)).fit(_toy(10), [1.0] * 10)
    with pytest.raises(ValueError, match="derives or drops"):
        RM.to_ranker(model)
    assert ranking.FEATURES == FEATURES
