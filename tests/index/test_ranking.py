"""The learned ranker: features of hybrid candidates, the JSON artifact, and the engine hook."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from corpus.library import link_documents
from corpus.loaders import law_from_articles
from index import ranking
from index.config import IndexConfig, Ranking
from index.encoders import FakeEncoder
from index.engine import PolicyIndex
from index.ranking import FEATURES, LearnedRanker

from ..conftest import tiny_docs

COL = {f: i for i, f in enumerate(FEATURES)}


@pytest.fixture(scope="module")
def hybrid() -> PolicyIndex:
    return PolicyIndex.build(tiny_docs(), IndexConfig(mode="hybrid", chunk_max_chars=120), encoder=FakeEncoder(dim=64))


class _ByFeature:
    """A stand-in ranker: orders candidates by one feature (sign -1 reverses it)."""

    def __init__(self, name: str, sign: float = 1.0) -> None:
        self.col, self.sign = COL[name], sign

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.sign * X[:, self.col]


def _features(idx: PolicyIndex, query: str) -> tuple[ranking.Candidates, np.ndarray]:
    got = idx.candidates(query, 10, None, "hybrid")
    assert got is not None
    c, _ = got
    return c, idx._features.features(c, idx.passages, idx.documents)


def test_features_by_hand(hybrid) -> None:
    c, X = _features(hybrid, "济历城政办字〔2025〕13号 社保补贴")
    assert X.shape == (len(c.rows), len(FEATURES))
    docs = [hybrid.passages[int(r)].doc_id for r in c.rows]
    emp = [i for i, d in enumerate(docs) if d == "emp"]
    # the 文号 names the employment policy: every one of its candidates is a lookup hit, no other is
    assert X[emp, COL["lookup"]].tolist() == [1.0] * len(emp)
    assert X[[i for i, d in enumerate(docs) if d != "emp"], COL["lookup"]].sum() == 0
    # per document: count of candidates, exactly one best passage
    assert np.allclose(X[emp, COL["doc_n_cands"]], np.log1p(len(emp)))
    assert X[emp, COL["doc_best"]].sum() == 1.0
    best = emp[int(np.argmax(c.fused[emp]))]
    assert X[best, COL["doc_best"]] == 1.0
    assert X[emp, COL["doc_fused_top3"]][0] == pytest.approx(np.sort(X[emp, COL["fused"]])[-3:].sum())
    # normalised scores span [0, 1]; the index has an encoder; superseded "old" and expired "tax" are stale
    assert X[:, COL["bm25_norm"]].max() == 1.0 and X[:, COL["bm25_norm"]].min() == 0.0
    assert set(X[:, COL["has_dense"]]) == {1.0}
    stale = {d for d, s in zip(docs, X[:, COL["stale"]], strict=True) if s}
    assert stale == {"old", "tax"}
    assert np.allclose(X[emp, COL["year"]], (2025 - 2000) / 25)


def test_title_cover_is_the_share_of_query_idf_found_in_the_title(hybrid) -> None:
    c, X = _features(hybrid, "老旧小区改造")
    idf = c.query_idf
    for i, r in enumerate(c.rows):
        title = hybrid.passages[int(r)].title
        want = sum(w for t, w in idf.items() if t in title) / sum(idf.values())
        assert X[i, COL["title_cover"]] == pytest.approx(want)
    assert X[:, COL["title_cover"]].max() == pytest.approx(1.0)  # the title says all of it


def test_engine_orders_by_the_ranker_only_in_hybrid(hybrid) -> None:
    q = "高校毕业生社保补贴"
    fusion = hybrid.search(q, 20)
    try:
        hybrid.ranker = _ByFeature("bm25_norm", -1.0)  # worst lexical match first
        reranked = hybrid.search(q, 20)
        bm25 = hybrid.search(q, 20, mode="bm25")
    finally:
        hybrid.ranker = None
    assert {h.passage.id for h in reranked} == {h.passage.id for h in fusion}  # same candidates
    assert reranked[0].scores["bm25"] == min(h.scores["bm25"] for h in fusion)
    assert "ranker" in reranked[0].scores and "ranker" not in fusion[0].scores
    assert [h.passage.id for h in bm25] == [h.passage.id for h in hybrid.search(q, 20, mode="bm25")]


def test_superseded_version_ranks_below_the_current_one_under_the_ranker() -> None:
    rows = [
        {"_id": f"{v}-1", "title": "某某条例", "chapter": "", "article": "第一条", "text": "第一条 养犬应当登记。"}
        for v in ("a", "b")
    ]
    docs = link_documents([law_from_articles("A", rows[:1]), law_from_articles("B", rows[1:])])
    assert {d.id: d.status.value for d in docs} == {"A": "superseded", "B": "current"}
    idx = PolicyIndex.build(docs, IndexConfig(mode="hybrid"), encoder=FakeEncoder(dim=16))
    idx.ranker = _ByFeature("bm25_norm")  # equal for both versions: only the status tells them apart
    hits = idx.search("养犬登记", 5)
    assert [(h.doc_id, h.passage.source_ids, h.passage.article) for h in hits] == [
        ("B", ("b-1",), "第一条"),
        ("A", ("a-1",), "第一条"),
    ]


def _tiny_model(tmp_path: Path) -> Path:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = rng.random((400, len(FEATURES)))
    y = (X[:, COL["dense_norm"]] > 0.7).astype(int)  # relevance follows one feature
    booster = lgb.train(
        {"objective": "lambdarank", "verbose": -1, "min_data_in_leaf": 5, "num_threads": 1},
        lgb.Dataset(X, y, group=[20] * 20),
        num_boost_round=20,
    )
    path = tmp_path / "ranker.json"
    LearnedRanker(booster.model_to_string(), FEATURES, {"command": "test"}).save(path)
    return path


def test_artifact_round_trip_and_scores(tmp_path) -> None:
    path = _tiny_model(tmp_path)
    back = LearnedRanker.load(path)
    assert back.info == {"command": "test"}
    X = np.zeros((2, len(FEATURES)))
    X[1, COL["dense_norm"]] = 1.0
    s = back.score(X)
    assert s[1] > s[0]
    assert json.loads(path.read_text())["features"] == list(FEATURES)


def test_numpy_trees_score_as_lightgbm_does(tmp_path) -> None:
    """The serving scorer (numpy over the text dump) against LightGBM's own predict, on rows with
    exact zeros, ties at thresholds and out-of-range values."""
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    X = rng.random((600, len(FEATURES)))
    X[rng.random(X.shape) < 0.3] = 0.0
    y = ((X[:, 0] + X[:, 2] - X[:, 16]) > 0.8).astype(int) + (X[:, 13] > 0.9)
    booster = lgb.train(
        {"objective": "lambdarank", "verbose": -1, "min_data_in_leaf": 5, "num_leaves": 15, "num_threads": 1},
        lgb.Dataset(X, y, group=[30] * 20),
        num_boost_round=40,
    )
    ours = LearnedRanker(booster.model_to_string(), FEATURES)
    test = np.vstack([rng.random((200, len(FEATURES))) * 3 - 1, np.zeros((1, len(FEATURES))), X[:50]])
    assert np.allclose(ours.score(test), booster.predict(test), atol=1e-9)
    assert ours.score(np.zeros((0, len(FEATURES)))).shape == (0,)


def test_bad_artifacts_are_refused(tmp_path) -> None:
    path = _tiny_model(tmp_path)
    d = json.loads(path.read_text())
    with pytest.raises(ValueError, match="retrain it"):
        LearnedRanker(d["model"], ["bm25_norm"])
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        LearnedRanker.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"format": 99, "model": "x"}))
    with pytest.raises(ValueError, match="not format"):
        LearnedRanker.load(tmp_path / "old.json")
    with pytest.raises(ValueError, match="shape"):
        LearnedRanker.load(path).score(np.zeros((3, 2)))


def test_config_switch_and_fallback_to_fusion(tmp_path, caplog) -> None:
    docs = tiny_docs()
    enc = FakeEncoder(dim=64)
    fusion = PolicyIndex.build(docs, IndexConfig(mode="hybrid", chunk_max_chars=120), encoder=enc)
    learned = PolicyIndex.build(
        docs,
        IndexConfig(mode="hybrid", chunk_max_chars=120, ranking="learned", ranker_path=str(_tiny_model(tmp_path))),
        encoder=enc,
    )
    assert learned.config.ranking is Ranking.LEARNED
    assert "ranker" in learned.search("社保补贴", 5)[0].scores
    missing = PolicyIndex.build(
        docs,
        IndexConfig(mode="hybrid", chunk_max_chars=120, ranking="learned", ranker_path=str(tmp_path / "none.json")),
        encoder=enc,
    )
    with caplog.at_level(logging.WARNING):
        got = missing.search("社保补贴", 5)
    assert [h.passage.id for h in got] == [h.passage.id for h in fusion.search("社保补贴", 5)]
    assert "ordering by fusion" in caplog.text
    with pytest.raises(ValueError, match="ranking must be one of fusion, learned"):
        IndexConfig(ranking="lambdamart")


def test_shipped_artifact_matches_the_code() -> None:
    # rebuilt by `python -m eval train-ranker ... --save index/resources/ranker.json` after a feature change
    r = LearnedRanker.load(ranking.DEFAULT_RANKER_PATH)
    assert r.info["command"].startswith("python -m eval train-ranker")
    assert set(r.info["out_of_fold"]) == set(r.info["trained_on"]) == {"ncp-dev", "resident-qa-dev", "stard-dev"}
    assert r.score(np.zeros((2, len(FEATURES)))).shape == (2,)


def test_linear_ranker_scores_standardised_features_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(2)
    mean, scale, w = rng.random(len(FEATURES)), rng.random(len(FEATURES)) + 0.5, rng.standard_normal(len(FEATURES))
    r = LearnedRanker.linear_model(mean, scale, w, {"command": "test"}, blend_fused=2.0)
    X = rng.random((7, len(FEATURES)))
    want = ((X - mean) / scale) @ w + 2.0 * X[:, COL["fused"]]
    assert np.allclose(r.score(X), want)
    r.save(tmp_path / "lin.json")
    back = LearnedRanker.load(tmp_path / "lin.json")
    assert back.kind == "linear" and back.blend_fused == 2.0 and np.allclose(back.score(X), want)
    assert "model" not in json.loads((tmp_path / "lin.json").read_text())
    with pytest.raises(ValueError, match="linear ranker needs"):
        LearnedRanker.linear_model(mean, -scale, w)
    with pytest.raises(ValueError, match="linear ranker needs"):
        LearnedRanker.linear_model(mean[:3], scale, w)


def test_blend_adds_a_multiple_of_the_fusion_to_the_trees(tmp_path) -> None:
    trees = LearnedRanker.load(_tiny_model(tmp_path))
    blended = LearnedRanker(trees.model_text, FEATURES, None, blend_fused=3.0)
    X = np.random.default_rng(3).random((5, len(FEATURES)))
    assert np.allclose(blended.score(X), trees.score(X) + 3.0 * X[:, COL["fused"]])
    blended.save(tmp_path / "b.json")
    assert LearnedRanker.load(tmp_path / "b.json").blend_fused == 3.0
    assert "blend_fused" not in trees.to_json()  # a plain model's artifact is as before


def test_rerank_top_scores_only_the_fusions_best_and_keeps_the_rest_below_in_fusion_order(tmp_path) -> None:
    full = LearnedRanker.load(_tiny_model(tmp_path))
    top = LearnedRanker(full.model_text, FEATURES, None, rerank_top=4)
    rng = np.random.default_rng(4)
    X = rng.random((10, len(FEATURES)))
    fused = X[:, COL["fused"]]
    best = np.argsort(-fused)[:4]
    s = top.score(X)
    assert np.allclose(s[best], full.score(X[best]))  # the model's own order among the best four
    rest = np.setdiff1d(np.arange(10), best)
    assert s[rest].max() < s[best].min()
    assert list(rest[np.argsort(-s[rest])]) == list(rest[np.argsort(-fused[rest])])
    assert np.allclose(top.score(X[:3]), full.score(X[:3]))  # fewer candidates than N: all scored
    top.save(tmp_path / "t.json")
    assert LearnedRanker.load(tmp_path / "t.json").rerank_top == 4
    with pytest.raises(ValueError, match="rerank_top"):
        LearnedRanker(full.model_text, FEATURES, rerank_top=-1)
