"""The retrieval behaviour every backend owes, run against the embedded one and Milvus (Lite, in tmp_path).

Rankings follow by hand from the five documents of tests/conftest.py; the parity tests then ask
for the very same passages and scores from both backends, after adds, replaces and removes.
"""

from __future__ import annotations

import itertools

import pytest

from corpus.models import Document, Status
from index.backend import SearchIndex
from index.config import IndexConfig
from index.encoders import FakeEncoder
from index.engine import PolicyIndex
from index.types import Filters

from ..conftest import tiny_docs

CONFIG = IndexConfig(mode="hybrid", chunk_max_chars=120)
QUERIES = (
    "高校毕业生社保补贴",
    "入学报名要带户口簿吗",
    "老旧小区改造资金",
    "济历城政发〔2024〕2号",
    "疫情防控 企业所得税",
    "你好",
)
MODES = ("bm25", "dense", "hybrid")
_counter = itertools.count()


def _milvus(tmp_path, docs, config=CONFIG, **opts):
    from index.milvus import MilvusIndex, MilvusOptions

    idx = MilvusIndex(config, str(tmp_path / f"m{next(_counter)}.db"), FakeEncoder(dim=64), MilvusOptions(**opts))
    idx.add(docs)
    return idx


@pytest.fixture(params=["embedded", "milvus"])
def index(request, tmp_path):
    if request.param == "embedded":
        yield PolicyIndex.build(tiny_docs(), CONFIG, encoder=FakeEncoder(dim=64))
        return
    idx = _milvus(tmp_path, tiny_docs())
    yield idx
    idx.close()


@pytest.fixture()
def pair(tmp_path):
    emb = PolicyIndex.build(tiny_docs(), CONFIG, encoder=FakeEncoder(dim=64))
    mil = _milvus(tmp_path, tiny_docs())
    yield emb, mil
    mil.close()


def _docs(hits):
    return [h.doc_id for h in hits]


def _same(a: SearchIndex, b: SearchIndex, **kw) -> None:
    """Same passages in the same order with the same scores (float32 sums may differ in the 6th digit)."""
    for q, mode in itertools.product(QUERIES, MODES):
        ha, hb = a.search(q, mode=mode, **kw), b.search(q, mode=mode, **kw)
        assert [h.passage for h in ha] == [h.passage for h in hb], (q, mode)
        for x, y in zip(ha, hb, strict=True):
            assert x.score == pytest.approx(y.score, rel=1e-4, abs=1e-5), (q, mode)
            assert x.scores == pytest.approx(y.scores, rel=1e-4, abs=1e-5), (q, mode)


def test_both_backends_implement_the_protocol(index):
    assert isinstance(index, SearchIndex)


def test_hand_derived_ranking(index):
    assert _docs(index.search("高校毕业生社保补贴", top_k=3, mode="bm25"))[0] == "emp"
    assert _docs(index.search("入学报名要带户口簿吗", top_k=1, mode="bm25")) == ["edu"]
    # Both renovation plans match; the superseded one is demoted below the current one.
    assert _docs(index.search("老旧小区改造资金", top_k=2, mode="bm25")) == ["new", "old"]
    hit = index.search("高校毕业生灵活就业社保补贴", top_k=1)[0]
    assert hit.doc_id == "emp" and set(hit.scores) == {"bm25", "dense", "bm25_weight"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("junk", ["你好", "？？？", "asdf"])
def test_score_floor(index, junk, mode):
    assert index.search(junk, mode=mode) == []


def test_lookup_by_doc_number_and_title(index):
    for q in ("济历城政发〔2024〕2号", "济历城政发[2024]2号 讲了什么", "历城区老旧小区改造实施方案（2024年修订）"):
        assert _docs(index.search(q, top_k=1)) == ["new"], q
    assert [d.id for d in index.lookup("国税发（2020）1号")] == ["tax"]
    assert index.lookup("完全不存在的文件标题啊") == []


def test_filters(index):
    current = Filters(status=frozenset({Status.CURRENT}))
    assert "old" not in _docs(index.search("老旧小区改造", top_k=10, filters=current))
    assert set(_docs(index.search("补贴 入学 改造", top_k=10, filters=Filters(issuer="教育和体育局")))) == {"edu"}
    dated = Filters(date_from="2024-01-01", date_to="2024-12-31")
    assert set(_docs(index.search("老旧小区改造", top_k=10, filters=dated))) == {"new"}
    assert set(_docs(index.search("企业 补贴 改造", top_k=10, filters=Filters(collection="ncp")))) == {"tax"}
    assert set(_docs(index.search("改造", top_k=10, filters=Filters(doc_ids=frozenset({"old"}))))) == {"old"}
    # A filter that matches nothing returns nothing, in every mode, even for a 文号 lookup.
    for nothing in (Filters(issuer="不存在的机关"), Filters(doc_ids=frozenset()), Filters(region='"]) or (pk != "')):
        for mode in MODES:
            assert index.search("高校毕业生", filters=nothing, mode=mode) == []
            assert index.search("济历城政办字〔2025〕13号", filters=nothing, mode=mode) == []


@pytest.mark.parametrize("mode", MODES)
def test_removed_document_never_returned(index, mode):
    index.remove(["emp"])
    assert "emp" not in _docs(index.search("高校毕业生就业补贴", top_k=50, mode=mode))
    assert "emp" not in _docs(index.search("济历城政办字〔2025〕13号", top_k=50, mode=mode))
    assert index.get_document("emp") is None and index.passages_of("emp") == []
    with pytest.raises(KeyError, match="unknown document ids"):
        index.remove(["no-such-doc"])


def test_replace_and_add(index):
    n_before, n_emp = len(index), len(index.passages_of("emp"))
    changed = Document(
        id="emp",
        title="历城区高校毕业生就业补贴办法",
        text="第一条 高校毕业生见习补贴每人每月2000元。",
        status=Status.CURRENT,
    )
    extra = Document(
        id="car", title="历城区汽车以旧换新补贴实施细则", text="报废旧车并购买新能源汽车的，给予以旧换新补贴一万元。"
    )
    index.add([changed, extra])
    assert _docs(index.search("以旧换新", top_k=1)) == ["car"]
    hits = index.search("高校毕业生见习补贴", top_k=3)
    assert hits[0].doc_id == "emp" and "2000元" in hits[0].passage.text
    assert all("500元" not in h.passage.text for h in index.search("社保补贴 500元", top_k=50))
    assert len(index) == n_before - n_emp + len(index.passages_of("emp")) + len(index.passages_of("car"))
    with pytest.raises(ValueError, match="duplicate document id"):
        index.add([extra, extra])


@pytest.mark.parametrize(
    "query, top_k, msg",
    [("", 10, "must not be empty"), ("补贴" * 1001, 10, "at most 2000"), ("补贴", 0, "top_k must be")],
)
def test_bad_queries(index, query, top_k, msg):
    with pytest.raises(ValueError, match=msg):
        index.search(query, top_k=top_k)


def test_same_answers_as_embedded(pair):
    emb, mil = pair
    _same(emb, mil)
    for f in (
        Filters(status=frozenset({Status.CURRENT, Status.EXPIRED})),
        Filters(region="历城区", date_to="2024-12-31"),
    ):
        _same(emb, mil, filters=f)


def test_same_answers_after_incremental_changes(pair):
    emb, mil = pair
    extra = [
        Document(
            id="car",
            title="历城区汽车以旧换新补贴实施细则",
            text="报废旧车并购买新能源汽车的，给予以旧换新补贴一万元。" * 3,
        ),
        Document(
            id="emp",
            title="历城区高校毕业生就业补贴办法",
            text="第一条 高校毕业生见习补贴每人每月2000元。",
            status=Status.CURRENT,
        ),
    ]
    for step in (lambda i: i.add(extra), lambda i: i.remove(["old", "car"])):
        step(emb)
        step(mil)
        _same(emb, mil)


def test_reopen_keeps_documents_and_scores(tmp_path):
    from index.milvus import MilvusIndex

    path = str(tmp_path / "keep.db")
    first = MilvusIndex(CONFIG, path, FakeEncoder(dim=64))
    first.add(tiny_docs())
    first.remove(["tax"])
    before = [(h.passage.id, round(h.score, 5)) for h in first.search("老旧小区改造资金")]
    first.close()
    again = MilvusIndex(CONFIG, path, FakeEncoder(dim=64))
    try:
        assert sorted(again.documents) == ["edu", "emp", "new", "old"]
        assert [(h.passage.id, round(h.score, 5)) for h in again.search("老旧小区改造资金")] == before
        assert again.get_document("emp") == tiny_docs()[0]
    finally:
        again.close()


def test_native_bm25_function_ranks_the_obvious_document(tmp_path):
    """Milvus' own BM25 function (jieba analyzer) as the lexical side, the alternative measured in README."""
    idx = _milvus(tmp_path, tiny_docs(), native_bm25=True)
    try:
        assert _docs(idx.search("入学报名要带户口簿吗", top_k=1, mode="bm25")) == ["edu"]
        assert _docs(idx.search("高校毕业生社保补贴", top_k=1, mode="hybrid")) == ["emp"]
    finally:
        idx.close()


def test_bad_options():
    from index.milvus import MilvusOptions
    from index.milvus_store import connect

    with pytest.raises(ValueError, match="index_type must be one of"):
        MilvusOptions(index_type="DISKANN")
    with pytest.raises(ValueError, match="collection must be"):
        MilvusOptions(collection="a-b")
    with pytest.raises(ValueError, match="ending in .db"):
        connect("/tmp/somewhere")


def test_filter_expressions_select_what_filters_accept(tmp_path):
    """Every filter, as a Milvus expression alone (no check afterwards), selects the documents Filters.accepts."""
    from index.milvus_store import NOTHING, filter_expression

    docs = tiny_docs()
    idx = _milvus(tmp_path, docs)
    cases = [
        Filters(status=frozenset({Status.SUPERSEDED, Status.EXPIRED})),
        Filters(issuer="历城区人民政府"),
        Filters(date_from="2024-02-01"),
        Filters(date_to="2020-03-01"),
        Filters(date_from="2020-02-02", date_to="2025-04-01"),
        Filters(region="济南市"),
        Filters(collection="demo", status=frozenset({Status.CURRENT})),
        Filters(doc_ids=frozenset({"tax", "edu", "nope"})),
        Filters(issuer='政府"]) or (doc_id != "'),
        Filters(doc_type="通知"),
    ]
    try:
        for f in cases:
            expr = filter_expression(f)
            assert expr is not None and expr != NOTHING
            rows = idx.client.query(idx.passages_name, filter=expr, output_fields=["doc_id"], limit=1000)
            assert {r["doc_id"] for r in rows} == {d.id for d in docs if f.accepts(d)}, (f, expr)
    finally:
        idx.close()
