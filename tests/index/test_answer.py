"""index/answer.py: sentence splitting, highlighting, cited extractive answers and abstention."""

from __future__ import annotations

import pytest

from corpus.models import Document, Passage, Status
from index.answer import (
    NOT_FOUND_TEXT,
    AnswerConfig,
    Answerer,
    highlight,
    sentence_heading_path,
    split_sentences,
)
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex

DOCS = [
    Document(
        id="rent",
        title="历城区高校毕业生租房补贴办法",
        doc_number="历人社发〔2024〕3号",
        publish_date="2024-03-01",
        status=Status.CURRENT,
        text="第一条 为吸引高校毕业生来历城区就业，制定本办法。\n"
        "第二条 在区内就业且本人在济南市无自有住房的毕业生，每月发放租房补贴800元，最长发放36个月。\n"
        "第三条 申请人应当通过历城区人才服务平台提交申请。",
    ),
    Document(
        id="rent-old",
        title="历城区高校毕业生租房补贴暂行办法",
        publish_date="2019-01-01",
        status=Status.SUPERSEDED,
        text="第二条 毕业生每月发放租房补贴500元，最长发放24个月。",
    ),
    Document(
        id="well",
        title="济南市城市供水条例",
        publish_date="2020-05-01",
        status=Status.CURRENT,
        text="第十条 供水企业应当保证城市供水水质符合国家标准。\n第十一条 禁止擅自在公共供水管道上加压。",
    ),
]


class Versions:
    def current_version(self, doc_id: str) -> str | None:
        return {"rent-old": "rent"}.get(doc_id)


@pytest.fixture(scope="module")
def index() -> PolicyIndex:
    return PolicyIndex.build(DOCS, IndexConfig(mode=SearchMode.BM25))


def make(index, **kw) -> Answerer:
    return Answerer(index, AnswerConfig(**kw), versions=Versions(), term_weights=index.idf)


class WithDense:
    """The real index, with a fixed embedding similarity attached to every hit (as hybrid search reports)."""

    def __init__(self, index: PolicyIndex, cosine: float) -> None:
        self._index, self._cos = index, cosine

    def search(self, query, top_k=10, filters=None):
        from dataclasses import replace

        return [replace(h, scores={**h.scores, "dense": self._cos}) for h in self._index.search(query, top_k, filters)]

    def __len__(self) -> int:
        return len(self._index)

    def __getattr__(self, name):
        return getattr(self._index, name)


def test_embedding_similarity_moves_confidence(index):
    q = "高校毕业生租房补贴每月多少"
    near = Answerer(WithDense(index, 0.93), AnswerConfig(threshold=0.0), term_weights=index.idf).answer(q)
    far = Answerer(WithDense(index, 0.78), AnswerConfig(threshold=0.0), term_weights=index.idf).answer(q)
    plain = make(index, threshold=0.0).answer(q)
    # cos 0.93 is above floor + span (0.92): full credit; 0.78 is below the floor: none.
    assert near.confidence == pytest.approx(0.7 * plain.confidence + 0.3, abs=1e-3)
    assert far.confidence == pytest.approx(0.7 * plain.confidence, abs=1e-3)
    off = Answerer(WithDense(index, 0.93), AnswerConfig(threshold=0.0, dense_weight=0.0), term_weights=index.idf)
    assert off.answer(q).confidence == plain.confidence


def test_split_sentences_keeps_offsets_and_end_punctuation():
    text = "第一条 总则。\n第二条 每月800元！是否可以？ 可以"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["第一条 总则。", "第二条 每月800元！", "是否可以？", "可以"]


def test_highlight_merges_overlaps_and_escapes_html():
    spans, html = highlight("<b>租房补贴</b>每月800元", ["租房", "租房补贴", "补贴", "800"])
    assert spans == ((3, 7), (13, 16))  # "<b>" is 3 chars, "</b>每月" 6 more
    assert html == "&lt;b&gt;<mark>租房补贴</mark>&lt;/b&gt;每月<mark>800</mark>元"


def test_sentence_heading_path_follows_headings_inside_a_passage():
    p = Passage(
        id="p",
        doc_id="d",
        position=0,
        text="第一章 总则\n第一条 目的。\n第二章 申请\n第五条 材料。",
        start=0,
        end=30,
        heading_path=(),
    )
    assert sentence_heading_path(p, p.text.index("第五条")) == ("第二章 申请", "第五条")
    assert sentence_heading_path(p, p.text.index("第一条")) == ("第一章 总则", "第一条")


def test_answer_picks_the_sentence_with_the_fact_and_cites_it(index):
    a = make(index, threshold=0.0).answer("毕业生租房补贴每月多少钱")
    assert not a.abstained
    first = a.sentences[0]
    assert "800元" in first.text
    assert first.citation.doc_id == "rent" and first.citation.doc_number == "历人社发〔2024〕3号"
    assert first.citation.doc_id == "rent" and first.citation.heading_path == ("第二条",)
    assert DOCS[0].text[first.start : first.end] == first.text
    assert a.passages and any(p.highlights for p in a.passages)


def test_superseded_source_is_flagged_with_its_current_version(index):
    # Restricted to the old document, the answer must say it was replaced and by what.
    from index.types import Filters

    a = make(index, threshold=0.0).answer("租房补贴每月多少", filters=Filters(doc_ids=frozenset({"rent-old"})))
    assert a.sentences[0].citation.doc_id == "rent-old"
    assert a.notices[0].current_doc_id == "rent"
    assert "已被《历城区高校毕业生租房补贴办法》替代" in a.text


@pytest.mark.parametrize("question", ["你好", "今天天气怎么样", "推荐一部电影"])
def test_unanswerable_questions_abstain_with_hotline(index, question):
    a = make(index).answer(question)
    assert a.abstained and a.text.startswith(NOT_FOUND_TEXT) and "12345" in a.text
    assert a.sentences == ()


def test_confidence_orders_on_topic_above_off_topic(index):
    ans = make(index, threshold=0.0)
    on = ans.answer("高校毕业生租房补贴最长发放多少个月").confidence
    off = ans.answer("水费多少钱一吨").confidence
    assert 0.0 <= off < on <= 1.0


@pytest.mark.parametrize(
    "kw,msg",
    [
        ({"top_k": 0}, "top_k"),
        ({"max_sentences": 4}, "max_sentences"),
        ({"threshold": 1.5}, "threshold"),
        ({"top_k": 3, "answer_passages": 5}, "answer_passages"),
    ],
)
def test_config_validation(kw, msg):
    with pytest.raises(ValueError, match=msg):
        AnswerConfig(**kw)


def test_empty_question_is_rejected(index):
    with pytest.raises(ValueError, match="non-empty"):
        make(index).answer("   ")


def test_join_sentences_separates_unpunctuated_pieces():
    from index.answer import join_sentences

    assert join_sentences(["每月800元。", "历城区居住证办理指南", "需要身份证。"]) == (
        "每月800元。历城区居住证办理指南；需要身份证。"
    )
