"""PolicyIndex on a five-document Chinese corpus whose rankings follow by hand (see tests/conftest.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from corpus.models import Document, Status
from index.config import IndexConfig, SearchMode
from index.engine import IndexFormatError, PolicyIndex
from index.types import Filters

from ..conftest import tiny_docs


def _fake_encoder():
    from index.encoders import FakeEncoder

    return FakeEncoder(dim=64)


@pytest.fixture()
def bm25_index() -> PolicyIndex:
    return PolicyIndex.build(tiny_docs(), IndexConfig(mode="bm25", chunk_max_chars=120))


@pytest.fixture()
def hybrid_index() -> PolicyIndex:
    return PolicyIndex.build(tiny_docs(), IndexConfig(mode="hybrid", chunk_max_chars=120), encoder=_fake_encoder())


def _docs(hits):
    return [h.doc_id for h in hits]


def test_hand_derived_ranking(bm25_index):
    # Only "emp" mentions 高校毕业生 and 社保补贴; only "edu" mentions 户口簿.
    assert _docs(bm25_index.search("高校毕业生社保补贴", top_k=3))[0] == "emp"
    assert _docs(bm25_index.search("入学报名要带户口簿吗", top_k=1)) == ["edu"]
    # Both renovation plans match; the superseded one is penalised below the current one.
    assert _docs(bm25_index.search("老旧小区改造资金", top_k=2)) == ["new", "old"]


@pytest.mark.parametrize("junk", ["你好", "？？？", "asdf", "您好，在吗？"])
@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_junk_queries_return_nothing(hybrid_index, junk, mode):
    assert hybrid_index.search(junk, mode=mode) == []


def test_doc_number_and_title_go_straight_to_the_document(bm25_index):
    for q in ("济历城政发〔2024〕2号", "济历城政发[2024]2号 讲了什么", "历城区老旧小区改造实施方案（2024年修订）"):
        assert _docs(bm25_index.search(q, top_k=1)) == ["new"], q
    assert [d.id for d in bm25_index.lookup("国税发（2020）1号")] == ["tax"]
    assert bm25_index.lookup("完全不存在的文件标题啊") == []


def test_filters_apply_before_ranking(hybrid_index):
    only_current = Filters(status=frozenset({Status.CURRENT}))
    assert "old" not in _docs(hybrid_index.search("老旧小区改造", top_k=10, filters=only_current))
    by_issuer = Filters(issuer="教育和体育局")
    assert set(_docs(hybrid_index.search("补贴 入学 改造", top_k=10, filters=by_issuer))) == {"edu"}
    dated = Filters(date_from="2024-01-01", date_to="2024-12-31")
    assert set(_docs(hybrid_index.search("老旧小区改造", top_k=10, filters=dated))) == {"new"}
    nothing = Filters(issuer="不存在的机关")
    for mode in ("bm25", "dense", "hybrid"):
        assert hybrid_index.search("高校毕业生", filters=nothing, mode=mode) == []


def test_bad_filter_values():
    with pytest.raises(ValueError, match="current, expired"):
        Filters(status=frozenset({"valid"}))
    with pytest.raises(ValueError, match="ISO date"):
        Filters(date_from="2025/01/01")
    with pytest.raises(ValueError, match="after date_to"):
        Filters(date_from="2025-02-01", date_to="2025-01-01")


@pytest.mark.parametrize(
    "query, top_k, msg",
    [
        ("", 10, "must not be empty"),
        ("   ", 10, "must not be empty"),
        ("补贴" * 1001, 10, "at most 2000"),
        ("补贴", 0, "top_k must be"),
        ("补贴", 5000, "top_k must be"),
    ],
)
def test_bad_queries(bm25_index, query, top_k, msg):
    with pytest.raises(ValueError, match=msg):
        bm25_index.search(query, top_k=top_k)


def test_huge_query_is_rejected_quickly(bm25_index):
    with pytest.raises(ValueError, match="at most"):
        bm25_index.search("补" * 10_000_000)


def test_dense_needs_encoder(bm25_index):
    with pytest.raises(ValueError, match="needs an encoder"):
        bm25_index.search("补贴", mode="dense")
    # Hybrid without an encoder degrades to BM25 rather than failing.
    assert bm25_index.search("高校毕业生", mode="hybrid")[0].doc_id == "emp"
    with pytest.raises(ValueError, match="bm25, dense, hybrid"):
        bm25_index.search("补贴", mode="sparse")


def test_hybrid_reports_both_signals(hybrid_index):
    hit = hybrid_index.search("高校毕业生灵活就业社保补贴", top_k=1)[0]
    assert hit.doc_id == "emp"
    assert set(hit.scores) == {"bm25", "dense", "bm25_weight"}
    assert hit.scores["bm25"] > 0


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_removed_document_never_returned(hybrid_index, mode):
    hybrid_index.remove(["emp"])
    assert "emp" not in _docs(hybrid_index.search("高校毕业生就业补贴", top_k=50, mode=mode))
    assert hybrid_index.get_document("emp") is None
    assert hybrid_index.passages_of("emp") == []
    with pytest.raises(KeyError, match="unknown document ids"):
        hybrid_index.remove(["no-such-doc"])


def test_replace_and_add_without_rebuild(hybrid_index):
    n_before, n_emp = len(hybrid_index), len(hybrid_index.passages_of("emp"))
    changed = Document(
        id="emp",
        title="历城区高校毕业生就业补贴办法",
        text="第一条 高校毕业生见习补贴每人每月2000元。",
        status=Status.CURRENT,
    )
    extra = Document(
        id="car", title="历城区汽车以旧换新补贴实施细则", text="报废旧车并购买新能源汽车的，给予以旧换新补贴一万元。"
    )
    hybrid_index.add([changed, extra])
    assert _docs(hybrid_index.search("以旧换新", top_k=1)) == ["car"]
    hits = hybrid_index.search("高校毕业生见习补贴", top_k=3)
    assert hits[0].doc_id == "emp" and "2000元" in hits[0].passage.text
    # The old version's text is gone.
    assert all("500元" not in h.passage.text for h in hybrid_index.search("社保补贴 500元", top_k=50))
    n_new = len(hybrid_index.passages_of("emp")) + len(hybrid_index.passages_of("car"))
    assert len(hybrid_index) == n_before - n_emp + n_new
    with pytest.raises(ValueError, match="duplicate document id"):
        hybrid_index.add([extra, extra])


def test_save_load_round_trip(tmp_path, hybrid_index):
    hybrid_index.remove(["tax"])
    hybrid_index.save(tmp_path / "idx")
    back = PolicyIndex.load(tmp_path / "idx", encoder=_fake_encoder())
    for q in ("老旧小区改造资金", "高校毕业生", "户口簿"):
        a = [(h.passage.id, round(h.score, 5)) for h in hybrid_index.search(q)]
        b = [(h.passage.id, round(h.score, 5)) for h in back.search(q)]
        assert a == b
    assert back.get_document("tax") is None
    params = json.loads((tmp_path / "idx" / "params.json").read_text())
    assert params["tokenizer"]["engine"].startswith("jieba")
    assert params["encoder"]["name"] == _fake_encoder().name
    assert params["config"]["chunk_max_chars"] == 120


def test_load_refuses_other_encoder(tmp_path, hybrid_index):
    from index.encoders import FakeEncoder

    hybrid_index.save(tmp_path / "idx")
    with pytest.raises(IndexFormatError, match="rebuild"):
        PolicyIndex.load(tmp_path / "idx", encoder=FakeEncoder(dim=32))


def test_save_is_atomic(tmp_path, bm25_index, monkeypatch):
    path = tmp_path / "idx"
    bm25_index.save(path)
    before = (path / "params.json").read_text()
    bm25_index.add([Document(id="x", title="新文件", text="新增的政策文件内容，关于垃圾分类。")])

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("index.dense.np.save", crash)
    monkeypatch.setattr("index.bm25.np.save", crash)
    with pytest.raises(OSError, match="disk full"):
        bm25_index.save(path)
    monkeypatch.undo()
    assert (path / "params.json").read_text() == before
    back = PolicyIndex.load(path)
    assert back.get_document("x") is None and back.search("高校毕业生")[0].doc_id == "emp"
    leftovers = [p for p in (tmp_path / ".idx.versions").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []
    bm25_index.save(path)
    assert PolicyIndex.load(path).get_document("x") is not None
    assert os.path.islink(path)


def test_open_or_build_reuses_by_corpus_hash(tmp_path):
    corpus = tmp_path / "c.jsonl"
    rows = [{"_id": d.id, "title": d.title, "text": d.text, "collection": "t", "source": "test"} for d in tiny_docs()]
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    cfg = IndexConfig(mode="bm25")
    a = PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg)
    dirs = sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("index-"))
    b = PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("index-")) == dirs
    assert b.corpus_hash == a.corpus_hash and len(b) == len(a)
    corpus.write_text(corpus.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name.startswith("index-")]) == 2


def test_search_mode_parse():
    assert SearchMode.from_str("BM25") is SearchMode.BM25
    with pytest.raises(ValueError, match="bm25, dense, hybrid"):
        SearchMode.from_str("rrf")


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"chunk_max_chars": 10}, "chunk_max_chars"),
        ({"bm25_weight": 2}, "bm25_weight"),
        ({"fusion": "max"}, "rrf, score"),
        ({"candidates": 1}, "candidates"),
        ({"rrf_k": 0}, "rrf_k"),
    ],
)
def test_config_validation(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        IndexConfig(**kwargs)


def test_rrf_and_score_fusion_both_rank_the_obvious_document_first():
    for fusion in ("rrf", "score"):
        idx = PolicyIndex.build(tiny_docs(), IndexConfig(fusion=fusion, chunk_max_chars=120), encoder=_fake_encoder())
        assert idx.search("高校毕业生就业社保补贴", top_k=1)[0].doc_id == "emp"
        assert np.isfinite([h.score for h in idx.search("老旧小区", top_k=5)]).all()


def test_adaptive_bm25_weight_follows_lexical_match():
    idx = PolicyIndex.build(
        tiny_docs(), IndexConfig(bm25_weight=0.2, bm25_weight_slope=0.6, chunk_max_chars=120), encoder=_fake_encoder()
    )
    verbatim = idx.search("吸纳高校毕业生就业的小微企业按每人每月500元给予社保补贴", top_k=1)[0]
    loose = idx.search("补贴 入学 改造 税收", top_k=1)[0]
    # A question that repeats a passage's words leans on BM25 more than a loose keyword list.
    assert verbatim.scores["bm25_weight"] > loose.scores["bm25_weight"] >= 0.2
    assert verbatim.scores["bm25_weight"] <= 0.8 + 1e-9
    fixed = PolicyIndex.build(tiny_docs(), IndexConfig(bm25_weight=0.3, bm25_weight_slope=0.0), encoder=_fake_encoder())
    assert fixed.search("高校毕业生", top_k=1)[0].scores["bm25_weight"] == 0.3


def test_open_or_build_prepares_documents_and_keys_the_cache_on_it(tmp_path):
    corpus = tmp_path / "c.jsonl"
    rows = [{"_id": d.id, "title": d.title, "text": d.text, "collection": "t", "source": "test"} for d in tiny_docs()]
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    cfg = IndexConfig(mode="bm25")

    def mark_expired(docs):
        return [Document.from_dict({**d.to_dict(), "status": "expired"}) for d in docs]

    plain = PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg)
    prepared = PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg, prepare=mark_expired)
    assert plain.get_document("emp").status is not Status.EXPIRED
    assert prepared.get_document("emp").status is Status.EXPIRED
    # Reopened with the same preparation, the prepared copy is loaded, not rebuilt.
    again = PolicyIndex.open_or_build(corpus, tmp_path / "cache", cfg, prepare=mark_expired)
    assert again.get_document("emp").status is Status.EXPIRED
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name.startswith("index-")]) == 2


def test_a_document_superseded_on_re_add_is_penalised_and_a_new_title_is_looked_up(bm25_index):
    # The per-row stale table and the remembered title lookups are rebuilt when documents change.
    first = bm25_index.search("高校毕业生就业补贴", top_k=1)[0]
    assert not bm25_index._stale_rows(np.asarray([bm25_index.passages.index(first.passage)]))[0]
    doc = bm25_index.get_document(first.doc_id)
    assert bm25_index.lookup("一个新加的文件标题的办法") == []
    from dataclasses import replace

    old = replace(doc, status=Status.SUPERSEDED)
    new = Document(id="new-title", title="一个新加的文件标题的办法", text="本办法自发布之日起施行。")
    bm25_index.add([old, new])
    rows = np.asarray(bm25_index._doc_rows[doc.id])
    assert bm25_index._stale_rows(rows).all()
    assert [d.id for d in bm25_index.lookup("一个新加的文件标题的办法")] == ["new-title"]
    bm25_index.remove(["new-title"])
    assert bm25_index.lookup("一个新加的文件标题的办法") == []


def test_the_dense_search_runs_faiss_on_one_thread_and_restores_the_count(hybrid_index, monkeypatch):
    import faiss

    from index import dense

    seen = []
    real = dense.DenseIndex.search

    def spy(self, *a, **kw):
        seen.append(faiss.omp_get_max_threads())
        return real(self, *a, **kw)

    monkeypatch.setattr(dense.DenseIndex, "search", spy)
    before = faiss.omp_get_max_threads()
    assert hybrid_index.search("高校毕业生就业补贴", top_k=3)
    assert seen == [1] and faiss.omp_get_max_threads() == before
