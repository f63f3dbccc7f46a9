"""index/sentences.py and index/selection.py: candidate units, headings, lists, near-duplicates."""

from __future__ import annotations

import pytest

from corpus.models import Document, Status
from index.answer import AnswerConfig, Answerer
from index.config import IndexConfig, SearchMode
from index.engine import PolicyIndex
from index.sentences import is_heading, split_sentences, units


def texts(t: str) -> list[str]:
    return [t[s:e] for s, e in split_sentences(t)]


def test_a_heading_glued_to_a_sentence_is_cut_off():
    t = "请按要求填报信息。三、报名方式进城务工人员可在网上报名。"
    assert texts(t) == ["请按要求填报信息。", "三、报名方式", "进城务工人员可在网上报名。"]


def test_a_title_followed_by_a_space_is_cut_off():
    t = "一、提高政治站位，全面落实《通知》各项要求 要充分认识当前做好工作的重要意义。"
    assert texts(t) == ["一、提高政治站位，全面落实《通知》各项要求", "要充分认识当前做好工作的重要意义。"]


def test_a_numbered_sentence_that_is_not_a_title_stays_whole():
    t = "一、群体性聚餐是指2户及以上家庭人员聚集聚餐；单户家庭用餐不视为群体性聚餐。"
    assert texts(t)[0] == "一、群体性聚餐是指2户及以上家庭人员聚集聚餐；"


@pytest.mark.parametrize(
    ("s", "heading"), [("二、所需材料", True), ("第三章 申请程序", True), ("每月发放800元。", False)]
)
def test_is_heading(s, heading):
    assert is_heading(s) is heading


def test_list_items_keep_their_lead_in_and_the_list_is_one_unit():
    t = "申请人应当提交下列材料：\n（一）居民身份证；\n（二）户口簿；\n（三）近期照片。\n其他事项另行通知。"
    us = units(t)
    whole = [u for u in us if u.lead_in]
    assert [u.text for u in whole] == ["申请人应当提交下列材料：（一）居民身份证；（二）户口簿；（三）近期照片。"]
    items = [u.text for u in us if u.item]
    assert items[1] == "申请人应当提交下列材料：（二）户口簿；"
    assert t[whole[0].start : whole[0].end].endswith("（三）近期照片。")


POLICY = Document(
    id="grad",
    title="历城区高校毕业生就业补贴办法",
    publish_date="2024-03-01",
    status=Status.CURRENT,
    text="第二条 毕业生与区内企业签订劳动合同的，给予一次性就业补贴8000元。\n第三条 租房补贴每月800元，最长36个月。",
)
READING = Document(
    id="grad-jd",
    title="《历城区高校毕业生就业补贴办法》政策解读",
    publish_date="2024-03-05",
    status=Status.CURRENT,
    doc_type="解读",
    interprets="grad",
    text="毕业生与区内企业签订劳动合同的，给予一次性就业补贴8000元。",
)


def test_a_sentence_repeated_by_the_reading_is_said_once_from_the_policy():
    idx = PolicyIndex.build([READING, POLICY], IndexConfig(mode=SearchMode.BM25))
    a = Answerer(idx, AnswerConfig(threshold=0.0), term_weights=idx.idf).answer("毕业生一次性就业补贴多少")
    firsts = [s for s in a.sentences if "8000元" in s.text]
    assert len(firsts) == 1, [s.text for s in a.sentences]
    assert firsts[0].citation.doc_id == "grad"
    assert [c.doc_id for c in firsts[0].also_cited] == ["grad-jd"]


def test_abstention_suggests_only_documents_about_the_subject():
    docs = [
        POLICY,
        READING,
        Document(id="water", title="济南市城市供水条例", status=Status.CURRENT, text="第十条 供水企业应当保证水质。"),
    ]
    idx = PolicyIndex.build(docs, IndexConfig(mode=SearchMode.BM25))
    a = Answerer(idx, AnswerConfig(threshold=1.0), term_weights=idx.idf).answer("毕业生供水补贴怎么领")
    assert a.abstained and a.hotline_href == "tel:12345"
    # 供水 is rarer than 毕业生 in this corpus: the subject is the water supply, not the graduates.
    assert [s.doc_id for s in a.suggestions] == ["water"]
