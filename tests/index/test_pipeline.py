"""index/pipeline.py: follow-up -> FAQ -> retrieval -> selection -> abstention -> generator hook."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corpus.models import Document, Status
from index.answer import AnswerConfig
from index.answer_model import RANKER_RESOURCE, load_model
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex
from index.faq import FaqItem
from index.followup import Turn
from index.pipeline import build_pipeline
from index.types import Filters

DOCS = [
    Document(
        id="rent",
        title="历城区高校毕业生租房补贴办法",
        status=Status.CURRENT,
        text="第二条 在区内就业的毕业生，每月发放租房补贴800元，最长发放36个月。\n"
        "第三条 申请人应当提交下列材料：\n（一）身份证；\n（二）劳动合同；\n（三）社会保险缴费证明。",
    ),
    Document(
        id="water",
        title="济南市城市供水条例",
        status=Status.CURRENT,
        text="第十条 供水企业应当保证城市供水水质符合国家标准。",
    ),
]
FAQ = [FaqItem(1, "供水水质有什么标准？", "城市供水水质应当符合国家标准。", "water")]


@pytest.fixture(scope="module")
def pipeline():
    idx = PolicyIndex.build(DOCS, IndexConfig(mode=SearchMode.BM25))
    return build_pipeline(idx, AnswerConfig(threshold=0.2), FAQ)


def test_a_follow_up_is_answered_within_the_previous_topic(pipeline):
    history = [Turn("毕业生租房补贴每月多少", "毕业生租房补贴每月多少")]
    a = pipeline.ask("那需要什么材料？", history)
    assert "租房" in a.query and not a.abstained
    assert a.sentences[0].citation.doc_id == "rent"


def test_the_shipped_ranker_prefers_a_sentence_of_the_asked_type():
    # Same sentence features but for its type: the one of the type the question asks for scores higher.
    idx = PolicyIndex.build(DOCS, IndexConfig(mode=SearchMode.BM25))
    ranker = load_model(None, RANKER_RESOURCE)
    assert ranker is not None
    p = build_pipeline(idx, AnswerConfig(threshold=0.0), ranker=ranker)
    q = "毕业生租房补贴需要什么材料"
    cands = p.answerer.ranked_candidates(q, p.answerer.retrieve(q), p.answerer.query_terms(q))
    base = next(c for c in cands if c.features["type_match"]).features
    unmatched = {"type_match": 0.0, "type_miss": 1.0, "sent_type": 0.0, "head_type": 0.0, "head_item": 0.0}
    other = {**base, **unmatched, "asked_money": 0.0, "asked_time": 0.0, "asked_place": 0.0}
    assert ranker.prob(base) > ranker.prob(other)


def test_an_approved_faq_answer_wins_and_cites_its_document(pipeline):
    a = pipeline.ask("供水水质有什么标准")
    assert a.source == "faq" and a.text == FAQ[0].answer
    assert a.sentences[0].citation.doc_id == "water" and a.sentences[0].start == -1


def test_a_filtered_question_skips_the_faq(pipeline):
    a = pipeline.ask("供水水质有什么标准", filters=Filters(doc_ids=frozenset({"water"})))
    assert a.source == "extractive" and a.sentences[0].citation.doc_id == "water"


def test_the_generator_hook_rewrites_answers_but_not_abstentions(pipeline):
    calls = []

    def rephrase(a):
        calls.append(a.question)
        return replace(a, text="改写：" + a.text, source="generated")

    assert pipeline.ask("毕业生租房补贴每月多少", rephrase=rephrase).source == "generated"
    abstained = pipeline.ask("宠物医院营业时间", rephrase=rephrase)
    assert abstained.abstained and calls == ["毕业生租房补贴每月多少"]
    assert abstained.hotline_href == "tel:12345"


def test_an_empty_question_is_refused(pipeline):
    with pytest.raises(ValueError, match="non-empty"):
        pipeline.ask("  ")


def test_the_faq_can_be_replaced_without_touching_the_rest(pipeline):
    p2 = pipeline.with_faq([])
    assert p2.ask("供水水质有什么标准").source == "extractive" and p2.answerer is pipeline.answerer
