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


# A guide laid out as the portal's service pages are: unnumbered titles alone on their line.
GUIDE = (
    "办理条件\n（一）在本市连续居住半年以上；\n（二）有合法稳定就业或住所。\n"
    "所需材料\n（一）居民身份证原件及复印件；\n（二）近期一寸照片两张；\n（三）住所证明。\n"
    "办理地点\n各区政务服务中心公安窗口。"
)


def test_an_unnumbered_title_on_its_own_line_is_a_heading_and_its_items_one_list():
    us = units(GUIDE)
    assert [u.text for u in us if u.heading] == ["办理条件", "所需材料", "办理地点"]
    lists = [u.text for u in us if u.lead_in]
    assert lists == [
        "（一）在本市连续居住半年以上；（二）有合法稳定就业或住所。",
        "（一）居民身份证原件及复印件；（二）近期一寸照片两张；（三）住所证明。",
    ]
    assert not any(u.text.startswith("所需材料") and not u.heading for u in us)  # never glued


def test_a_list_item_ending_in_a_title_word_is_not_cut_as_a_title():
    t = "（三）具有从事五年以上应聘职位要求的本专业工作资历；"
    assert texts(t) == [t]


def _candidates(question: str, text: str):
    from index import selection

    doc = Document(id="guide", title="居住证办理指南", status=Status.CURRENT, text=text)
    idx = PolicyIndex.build([doc], IndexConfig(mode=SearchMode.BM25))
    answerer = Answerer(idx, AnswerConfig(threshold=0.0), term_weights=idx.idf)
    hits = idx.search(question)
    return selection.candidates(question, hits, answerer.query_terms(question), idx.get_document, 5, 240)


def test_the_list_under_the_title_naming_the_asked_type_is_marked():
    by_text = {c.unit.text: c.features for c in _candidates("居住证需要什么材料", GUIDE)}
    materials = by_text["（一）居民身份证原件及复印件；（二）近期一寸照片两张；（三）住所证明。"]
    conditions = by_text["（一）在本市连续居住半年以上；（二）有合法稳定就业或住所。"]
    assert materials["head_type"] == materials["head_item"] == 1.0
    assert conditions["head_type"] == conditions["head_item"] == 0.0
    # Asked where, the office is the sentence under the place title.
    place = {c.unit.text: c.features for c in _candidates("居住证在哪里办", GUIDE)}["各区政务服务中心公安窗口。"]
    assert place["head_type"] == place["asked_place"] == 1.0


def test_amounts_and_durations_count_only_when_asked_for():
    text = "补贴标准\n每人每月补贴800元，最长发放12个月。\n申请人应当如实填写申请表。"
    money = {c.unit.text: c.features for c in _candidates("补贴每月多少钱", text)}
    assert money["每人每月补贴800元，最长发放12个月。"]["asked_money"] == 1.0
    assert money["申请人应当如实填写申请表。"]["asked_money"] == 0.0
    how = {c.unit.text: c.features for c in _candidates("补贴怎么申请", text)}
    assert how["每人每月补贴800元，最长发放12个月。"]["asked_money"] == 0.0
    assert how["每人每月补贴800元，最长发放12个月。"]["asked_time"] == 0.0
    when = {c.unit.text: c.features for c in _candidates("补贴发放多长时间", text)}
    assert when["每人每月补贴800元，最长发放12个月。"]["asked_time"] == 1.0


def test_a_document_title_on_its_own_line_is_a_heading_not_an_answer():
    t = (
        "济南市历城区人民政府办公室关于印发历城区养老服务补贴管理办法的通知\n"
        "历城区养老服务补贴管理办法\n第一条 为健全养老服务体系，制定本办法。"
    )
    us = units(t)
    assert [u.text for u in us if u.heading] == [
        "济南市历城区人民政府办公室关于印发历城区养老服务补贴管理办法的通知",
        "历城区养老服务补贴管理办法",
    ]
    assert [u.text for u in us if not u.heading] == ["第一条 为健全养老服务体系，制定本办法。"]
