import numpy as np
import pytest
import rank_bm25

from index.bm25 import BM25Index, BM25Method

CORPUS = [
    ["高校", "毕业生", "就业", "补贴"],
    ["就业", "创业", "补贴", "补贴", "贷款"],
    ["养老", "服务", "补贴"],
    ["义务", "教育", "入学", "学区"],
    ["居住证", "申领", "材料"],
    ["老旧小区", "改造", "范围"],
    ["医保", "报销", "比例"],
]
QUERIES = [["就业", "补贴"], ["居住证", "材料"], ["老旧小区", "改造", "资金"], ["养老"]]


@pytest.mark.parametrize("query", QUERIES)
def test_robertson_matches_rank_bm25(query):
    # Every query term here sits in fewer than half the documents, where rank-bm25's
    # Okapi idf is log((N-n+0.5)/(n+0.5)) unclipped; bm25s' tf part omits the (k1+1) factor.
    ours = BM25Index(k1=1.5, b=0.75, method="robertson")
    ours.add(CORPUS)
    ref = rank_bm25.BM25Okapi(CORPUS, k1=1.5, b=0.75).get_scores(query) / (1.5 + 1)
    np.testing.assert_allclose(ours.scores(query), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query", QUERIES)
def test_lucene_matches_rank_bm25_with_lucene_idf(query):
    ref_model = rank_bm25.BM25Okapi(CORPUS, k1=1.2, b=0.75)
    n = len(CORPUS)
    for term in ref_model.idf:
        df = sum(term in doc for doc in CORPUS)
        ref_model.idf[term] = np.log(1 + (n - df + 0.5) / (df + 0.5))
    ours = BM25Index(k1=1.2, b=0.75, method="lucene")
    ours.add(CORPUS)
    np.testing.assert_allclose(ours.scores(query), ref_model.get_scores(query) / 2.2, rtol=1e-5, atol=1e-6)


def test_incremental_add_equals_full_build():
    full = BM25Index()
    full.add(CORPUS)
    inc = BM25Index()
    inc.add(CORPUS[:3])
    inc.add(CORPUS[3:])
    for q in QUERIES:
        np.testing.assert_allclose(inc.scores(q), full.scores(q), rtol=1e-6)


def test_remove_equals_build_without_the_rows():
    idx = BM25Index()
    idx.add(CORPUS)
    idx.remove([1, 4])
    rest = BM25Index()
    rest.add([d for i, d in enumerate(CORPUS) if i not in (1, 4)])
    for q in QUERIES:
        s = idx.scores(q)
        assert s[1] == 0 and s[4] == 0
        np.testing.assert_allclose(np.delete(s, [1, 4]), rest.scores(q), rtol=1e-6)


def test_mask_and_unknown_terms():
    idx = BM25Index()
    idx.add(CORPUS)
    mask = np.zeros(len(CORPUS), dtype=bool)
    mask[2] = True
    s = idx.scores(["补贴"], mask)
    assert s[2] > 0 and s[[0, 1]].sum() == 0
    assert not idx.scores(["不存在的词"]).any()


def test_save_load_round_trip(tmp_path):
    idx = BM25Index(k1=1.1, b=0.6)
    idx.add(CORPUS)
    idx.remove([0])
    idx.save(tmp_path / "bm25")
    back = BM25Index.load(tmp_path / "bm25")
    assert (back.k1, back.b, back.method) == (1.1, 0.6, BM25Method.LUCENE)
    for q in QUERIES:
        np.testing.assert_array_equal(back.scores(q), idx.scores(q))
    back.add([["新增", "补贴"]])
    assert back.scores(["新增"])[-1] > 0


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"k1": 0}, "k1 must be"),
        ({"b": 1.5}, "b must be"),
        ({"method": "okapi"}, "lucene, robertson, atire"),
    ],
)
def test_constructor_validation(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        BM25Index(**kwargs)


def test_remove_out_of_range():
    idx = BM25Index()
    idx.add(CORPUS)
    with pytest.raises(IndexError, match="out of range"):
        idx.remove([99])
