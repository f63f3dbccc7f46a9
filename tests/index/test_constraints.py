"""index/constraints.py: a question's place / year / 文号 / 《title》, and documents tested against them."""

from __future__ import annotations

import pytest

from corpus.models import Document, Passage, Status
from index.answer import AnswerConfig
from index.config import IndexConfig, SearchMode
from index.constraints import Verdict, parse, parse_asked, prefer_satisfying, unmet_message, verdict
from index.encoders import FakeEncoder
from index.engine import PolicyIndex
from index.pipeline import build_pipeline
from index.types import Hit


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("question", "label"),
    [
        # constrained questions of resident-qa-dev
        ("杭州市区2016年小学一年级什么时候报名", "杭州市、2016年"),
        ("深圳社会医疗保险办法2016 基本医疗保险一档 单位和个人各交多少", "深圳市、2016年"),
        ("福建2015年户籍改革 福州市辖区落户 积分", "福州市、2015年"),
        ("济南市禁止燃放烟花爆竹的规定 重污染天气放烟花 罚款", "济南市"),
        ("青岛办事材料缺一两样能先容缺受理吗", "青岛市"),
        ("南京建邺区2016年上小学，孩子户口跟爷爷奶奶一起", "南京市建邺区、2016年"),
        ("北京公租房申请，3口之家年收入多少以下才符合条件", "北京市"),
        ("2014年国务院户籍制度改革意见 城区人口500万以上城市 落户政策", "2014年"),
        # ncp-dev
        ("甘肃省平凉市政务服务中心如何应对疫情问题？", "平凉市"),
        ("重庆《支持疫情防控税费政策指引》涵盖了哪几个方面？", "重庆市、《支持疫情防控税费政策指引》"),
        # 文号: the year inside it is the 文号's, not a constraint of its own
        ("济政办发〔2019〕3号文件规定了什么", "文号济政办发〔2019〕3号"),
    ],
)
def test_parse_reads_place_year_number_and_title(question, label):
    assert parse(question).label == label


@pytest.mark.parametrize(
    ("question", "label"),
    [
        ("内江市近期去过武汉的人出现感染症状如何处理？", "内江市"),  # 武汉: where they went
        ("湖北籍人员返岗有什么政策", ""),  # where they are from
        ("江西省对口支援哪个市？", "江西省"),  # 对口支援 names the helper, not the helped
        ("非上海生源应届毕业生落户要带什么", ""),
        ("北京大学毕业生落户", ""),  # an institution
        ("南京城乡居民养老保险 缴费超过15年 基础养老金多发多少", "南京市"),  # 15年 is a duration
        ("2016年出生的孩子什么时候上小学", ""),  # the child's year, not the policy's
        ("低保每月发多少钱", ""),
    ],
)
def test_places_and_years_that_are_the_subject_are_not_constraints(question, label):
    assert parse(question).label == label


def test_a_follow_up_keeps_the_place_it_does_not_replace():
    assert parse_asked("需要什么材料", "济南 公租房 需要什么材料").label == "济南市"
    assert parse_asked("那青岛呢", "济南 烟花爆竹 那青岛呢").label == "青岛市"


# ---------------------------------------------------------------- satisfaction
def doc(title: str, **kw) -> Document:
    return Document(id=kw.pop("id", title), title=title, text=kw.pop("text", "第一条 为了规范管理，制定本办法。"), **kw)


HANGZHOU_2016 = parse("杭州市2016年小学什么时候报名")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (doc("杭州市教育局关于2016年市区小学一年级入学报名的通告", publish_date="2016-06-20"), Verdict.MEETS),
        # a district inside the city, named by the region field only
        (doc("关于小学入学报名的通告", region="浙江省杭州市西湖区", publish_date="2016-05-01"), Verdict.MEETS),
        # another city
        (doc("温州市教育局关于2016年小学入学报名的通告", publish_date="2016-06-01"), Verdict.CONFLICTS),
        # the right city, but dated after the year asked: not that year's policy
        (doc("杭州市教育局关于2019年小学入学报名的通告", publish_date="2019-06-01"), Verdict.CONFLICTS),
        # dated before: it may still have been in force in 2016
        (doc("杭州市义务教育入学办法", publish_date="2012-03-01"), Verdict.UNKNOWN),
        # the province: it applies in Hangzhou, but is not Hangzhou's own
        (doc("浙江省义务教育条例", region="浙江省", publish_date="2015-01-01"), Verdict.UNKNOWN),
        # no place, no date: lenient
        (doc("关于小学入学报名的通告"), Verdict.UNKNOWN),
        # a text-derived title running into a dateline names no jurisdiction
        (
            doc("新华社北京6月1日电 小学入学", metadata={"title_from_text": True}, text="新华社北京6月1日电 各地…"),
            Verdict.UNKNOWN,
        ),
    ],
)
def test_verdict_of_place_and_year(document, expected):
    assert verdict(HANGZHOU_2016, document) is expected


def test_text_head_or_passage_confirms_a_place_but_never_contradicts_it():
    untitled = doc("关于做好复工工作的通知", text="各区县：现就杭州市企业复工通知如下。")
    assert verdict(parse("杭州复工"), untitled) is Verdict.MEETS
    assert verdict(parse("温州复工"), untitled) is Verdict.UNKNOWN
    assert verdict(parse("温州复工"), doc("关于复工的通知"), passage_text="温州市各企业") is Verdict.MEETS


def test_a_named_ancestor_is_asked_about_too():
    fujian = parse("福建2015年户籍改革 福州市辖区落户")
    assert verdict(fujian, doc("福建省人民政府关于推进户籍制度改革的意见", publish_date="2015-02-11")) is Verdict.MEETS
    assert verdict(fujian, doc("厦门市户籍管理办法", publish_date="2015-03-01")) is Verdict.CONFLICTS


def test_verdict_of_doc_number_and_title():
    by_number = parse("鲁政办发〔2020〕3号")
    assert verdict(by_number, doc("某通知", doc_number="鲁政办发[2020]3号")) is Verdict.MEETS
    assert verdict(by_number, doc("某通知", doc_number="鲁政办发〔2020〕7号")) is Verdict.CONFLICTS
    assert verdict(by_number, doc("某通知")) is Verdict.UNKNOWN
    assert verdict(by_number, doc("某通知", text="鲁政办发〔2020〕3号\n各市人民政府：")) is Verdict.MEETS
    titled = parse("《国务院户籍制度改革意见》有哪些内容")
    assert verdict(titled, doc("国务院关于进一步推进户籍制度改革的意见")) is Verdict.MEETS
    assert verdict(titled, doc("国务院关于深化养老保险制度改革的决定")) is Verdict.CONFLICTS


def test_no_constraint_meets_everything():
    assert verdict(parse("低保每月发多少钱"), doc("温州市最低生活保障办法")) is Verdict.MEETS


def hit(doc_id: str, score: float) -> Hit:
    return Hit(Passage(f"{doc_id}#0", doc_id, 0, "正文", 0, 2, title=doc_id), score)


def test_prefer_satisfying_drops_or_demotes_contradicting_documents():
    docs = {
        "wz": doc("温州市入学办法", id="wz"),
        "hz": doc("杭州市入学办法", id="hz"),
        "none": doc("入学办法", id="none"),
    }
    hits = [hit("wz", 9.0), hit("none", 5.0), hit("hz", 3.0)]
    out = prefer_satisfying(parse("杭州入学"), hits, docs.get)
    assert [h.doc_id for h in out.hits] == ["none", "hz"]
    assert out.verdicts == {"wz": Verdict.CONFLICTS, "none": Verdict.UNKNOWN, "hz": Verdict.MEETS}
    kept = prefer_satisfying(parse("杭州入学"), hits, docs.get, drop=False).hits
    assert [h.doc_id for h in kept] == ["none", "hz", "wz"]
    assert [h.score for h in kept] == [5.0, 3.0, 3.0]  # 温州's 9.0 capped below the one before it
    # when every document contradicts the question, all are kept (and the answer says so)
    assert prefer_satisfying(parse("济南入学"), hits[:1], docs.get).hits == hits[:1]
    same = [hit("wz", 9.0), hit("hz", 3.0)]
    assert prefer_satisfying(parse("入学办法"), same, docs.get).hits == same


def test_unmet_message_names_what_to_check():
    assert unmet_message(HANGZHOU_2016) == (
        "没有找到符合“杭州市、2016年”的文件，回答引自最接近的文件，请核对其适用的地区、年份"
    )


# ---------------------------------------------------------------- in the pipeline
ENROL = "一、报名时间：{d}，适龄儿童家长携带户口簿和房产证到学区小学报名。二、小学一年级入学报名年龄为年满6周岁。"
CITY_DOCS = [
    Document(
        id="wenzhou",
        title="温州市小学一年级入学报名通告",
        text=ENROL.format(d="6月20日至21日") + "报名时间截止后不再受理报名。",
        region="浙江省温州市",
        status=Status.CURRENT,
    ),
    Document(
        id="hangzhou",
        title="杭州市小学入学通告",
        text=ENROL.format(d="6月25日至26日"),
        region="浙江省杭州市",
        status=Status.CURRENT,
    ),
]


@pytest.fixture(scope="module")
def city_index():
    return PolicyIndex.build(CITY_DOCS, IndexConfig(mode=SearchMode.HYBRID), FakeEncoder(dim=32))


def _ask(index, question, constrain=True):
    return build_pipeline(index, AnswerConfig(threshold=0.0), learned=False, constrain=constrain).ask(question)


def test_a_question_naming_one_city_is_answered_from_that_citys_policy(city_index):
    q = "杭州小学一年级报名时间"
    assert _ask(city_index, q, constrain=False).sentences[0].citation.doc_id == "wenzhou"  # the index's order
    a = _ask(city_index, q)
    assert a.sentences[0].citation.doc_id == "hangzhou"
    assert "6月25日" in a.text and not a.notices


def test_a_city_no_document_is_for_gets_the_none_satisfies_notice(city_index):
    a = _ask(city_index, "济南小学一年级报名时间")
    assert not a.abstained and a.sentences[0].citation.doc_id in {"wenzhou", "hangzhou"}
    assert a.notices[0].message.startswith("没有找到符合“济南市”的文件")
    assert a.text.startswith("没有找到符合“济南市”的文件") and a.signals["constraint_unmet"] == 1.0
    assert not _ask(city_index, "济南小学一年级报名时间", constrain=False).notices
    assert not _ask(city_index, "小学一年级报名时间").notices  # no constraint, no notice
