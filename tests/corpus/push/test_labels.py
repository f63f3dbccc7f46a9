"""The push labeller on small hand-written Chinese snippets: one rule per test."""

from __future__ import annotations

import pytest

from corpus.models import Document, Status
from corpus.push.groups import EVIDENCE_MAX, EVIDENCE_MIN
from corpus.push.labels import label_document
from corpus.push.targeting import JurisdictionLevel
from corpus.push.taxonomy import Audience

TODAY = "2026-11-29"


def doc(text: str, title: str = "", **kw) -> Document:
    return Document(id=kw.pop("id", "d1"), title=title, text=text, **kw)


def assert_verbatim(t, text: str) -> None:
    for g in t.groups:
        quote = t.evidence[g]
        assert quote in text, (g, quote)
        assert EVIDENCE_MIN <= len(quote) <= EVIDENCE_MAX, (g, quote)


SUBSIDY = (
    "第一条 为促进高校毕业生就业创业，制定本办法。\n"
    "第二条 本办法适用于本市行政区域内的高校毕业生和用人单位。\n"
    "第三条 用人单位吸纳高校毕业生就业的，给予每人每月500元社会保险补贴。\n"
    "第四条 高校毕业生自主创业的，可以申请一次性创业补贴10000元。\n"
    "第五条 企业申请补贴应当提交劳动合同和缴费记录。"
)


def test_group_with_benefit_gets_group_audience_and_verbatim_evidence() -> None:
    t = label_document(doc(SUBSIDY, title="济南市高校毕业生就业创业补贴办法"), today=TODAY)
    assert "高校毕业生" in t.groups
    assert set(t.audience) == {Audience.RESIDENT, Audience.ENTERPRISE}
    assert "就业创业" in t.topics
    assert_verbatim(t, SUBSIDY)


def test_jurisdiction_from_title_region_city() -> None:
    t = label_document(doc(SUBSIDY, title="济南市高校毕业生就业创业补贴办法"), today=TODAY)
    assert t.jurisdiction.level is JurisdictionLevel.MUNICIPAL
    assert (t.jurisdiction.province, t.jurisdiction.city) == ("山东省", "济南市")


def test_jinan_district_alone_resolves_to_jinan() -> None:
    t = label_document(doc(SUBSIDY, title="历城区高校毕业生就业补贴办法"), today=TODAY)
    assert t.jurisdiction.level is JurisdictionLevel.DISTRICT
    assert (t.jurisdiction.city, t.jurisdiction.districts) == ("济南市", ("历城区",))


def test_scope_clause_naming_districts_narrows_a_city_regulation() -> None:
    text = (
        "第一条 为方便居民出行，制定本规定。\n第二条 本规定适用于本市莱芜区、钢城区既有多层住宅增设电梯。\n"
        "第三条 业主申请增设电梯的，应当经本单元业主同意。\n第四条 居民可以申请增设电梯补贴。"
    )
    t = label_document(doc(text, title="济南市既有多层住宅增设电梯规定"), today=TODAY)
    assert t.jurisdiction.level is JurisdictionLevel.DISTRICT
    assert set(t.jurisdiction.districts) == {"莱芜区", "钢城区"}
    assert not t.jurisdiction.covers("山东省", "济南市", "历城区")


def test_municipality_citywide_is_provincial() -> None:
    text = "本市行政区域内的居民可以申请居住证。申请人应当提交身份证明。居民办理居住证不收取费用。"
    t = label_document(doc(text, title="上海市居住证申领办法"), today=TODAY)
    assert t.jurisdiction.level is JurisdictionLevel.PROVINCIAL
    assert t.jurisdiction.province == "上海市"


def test_ministry_and_state_council_are_national() -> None:
    text = "各省、自治区、直辖市人民政府：企业和个人可以申请延期缴纳税款。纳税人应当按期申报。企业可以享受减免。"
    for title in ("财政部关于延期缴纳税款的通知", "国务院关于延期缴纳税款的通知"):
        t = label_document(doc(text, title=title), today=TODAY)
        assert t.jurisdiction.level is JurisdictionLevel.NATIONAL


def test_internal_procedure_documents_have_no_audience() -> None:
    text = (
        "第一条 为加强规范性文件备案审查，制定本办法。"
        "第二条 制定机关应当在公布后三十日内报送备案。第三条 法制机构负责审查。"
    )
    t = label_document(doc(text, title="某省行政机关规范性文件备案监督办法"), today=TODAY)
    assert t.audience == ()
    assert t.groups == ()


def test_news_without_measures_has_no_audience() -> None:
    text = (
        "2月27日，省委统战部召开会议，传达学习重要讲话精神。会议强调，要提高政治站位，凝聚各方力量。"
        "部长主持会议并讲话，指出统一战线要贡献智慧和力量。"
    )
    assert label_document(doc(text, title="凝聚各方力量共克时艰"), today=TODAY).audience == ()


def test_enterprise_only_audience() -> None:
    text = (
        "一、对受疫情影响的企业，可以申请延期缴纳社会保险费。二、企业复工复产的，给予稳岗返还。"
        "三、生产经营困难的企业可以申请贷款贴息。四、企业应当落实防控责任。"
    )
    t = label_document(doc(text, title="关于支持企业复工复产的若干措施"), today=TODAY)
    assert t.audience == (Audience.ENTERPRISE,)
    assert "惠企与营商环境" in t.topics


@pytest.mark.parametrize(
    ("group", "sentence"),
    [
        ("农民工", "进城务工人员随迁子女可以在居住地申请就读公办学校，享受同等待遇。"),
        ("外来务工与新市民", "持有居住证的非本市户籍人员可以申请积分入学，享受基本公共服务。"),
        ("困难群众", "对最低生活保障家庭和特困人员给予临时救助补贴。"),
        ("残疾人", "持残疾证的残疾人可以申请免费乘坐公共交通。"),
        ("退役军人", "退役军人自主创业的，可以申请一次性创业补贴。"),
        ("失业人员", "登记失业人员参加职业培训的，给予培训补贴。"),
        ("灵活就业人员", "灵活就业人员可以申请社会保险补贴。"),
        ("个体工商户", "个体工商户可以申请减免房租三个月。"),
        ("中小微企业", "小微企业可以申请贷款贴息和担保费补贴。"),
        ("医护人员", "一线医务人员的临时性工作补助免征个人所得税。"),
        ("育儿家庭", "三岁以下婴幼儿家庭可以申请托育服务补贴。"),
        ("老年人", "八十周岁以上高龄老人可以申请高龄津贴补贴。"),
    ],
)
def test_each_group_named_with_benefits(group: str, sentence: str) -> None:
    text = "\n".join([sentence] * 3) + "\n申请人应当向居住地街道办事处提出申请。"
    t = label_document(doc(text, title="关于落实惠民政策的通知"), today=TODAY)
    assert group in t.groups, (group, t.groups)
    assert_verbatim(t, text)


def test_passing_mention_is_not_a_group() -> None:
    text = (
        "第一条 为保护河道，制定本条例。第二条 任何单位和个人不得向河道倾倒垃圾。"
        "第三条 村民委员会协助做好河道保护工作。第四条 违反本条例的，由水行政主管部门责令改正。"
    )
    t = label_document(doc(text, title="某市河道管理保护条例"), today=TODAY)
    assert "农民" not in t.groups
    assert "生态环境" in t.topics


def test_universal_health_insurance_gets_no_groups() -> None:
    text = (
        "本市城乡居民参加基本医疗保险。中小学生、婴幼儿、老年人、残疾人按规定参保，享受医保待遇。"
        "参保人员可以申请门诊报销。老年人和残疾人个人缴费部分给予补贴。"
    )
    t = label_document(doc(text, title="某市城乡居民基本医疗保险办法"), today=TODAY)
    assert t.groups == ()
    assert "社会保险" in t.topics


def test_expired_by_stated_end_date() -> None:
    text = "居民可以申请补贴。本细则自2016年1月1日起施行，有效期至2020年12月31日。"
    assert label_document(doc(text, title="补贴细则"), today=TODAY).expired
    assert not label_document(doc(text, title="补贴细则"), today="2019-06-01").expired


def test_expired_by_from_to_period_and_by_years() -> None:
    a = "居民可以申请。本办法自2008年5月1日至2013年4月30日施行。"
    b = "企业可以申请。本意见自发布之日起正式执行，有效期五年。"
    assert label_document(doc(a, title="办法"), today=TODAY).expired
    assert label_document(doc(b, title="意见", publish_date="2016-01-11"), today=TODAY).expired
    assert not label_document(doc(b, title="意见", publish_date="2024-01-11"), today=TODAY).expired


def test_repealed_and_metadata_expiry_but_not_replaced_old_documents() -> None:
    assert label_document(doc("本办法已废止。居民可以申请。", title="办法"), today=TODAY).expired
    assert label_document(doc("居民可以申请。", title="办法", status=Status.EXPIRED), today=TODAY).expired
    text = "居民可以申请。本办法自2020年1月1日起施行，《旧办法》同时废止。居住证有效期为1年。"
    assert not label_document(doc(text, title="办法"), today=TODAY).expired


def test_empty_and_unknown_text_do_not_crash() -> None:
    t = label_document(doc("", title=""), today=TODAY)
    assert t.audience == () and t.groups == ()
    t = label_document(doc("hello world 12345"), today=TODAY)
    assert t.audience == ()
    assert t.jurisdiction.level is JurisdictionLevel.NATIONAL


def test_today_is_validated() -> None:
    with pytest.raises(ValueError, match="ISO date"):
        label_document(doc("居民可以申请。"), today="29/11/2026")


def test_land_contract_rights_are_farmers_not_businesses() -> None:
    # 土地承包经营权 is a household's right: 经营 inside it does not name a business
    text = (
        "一、农户依法享有土地承包经营权，任何组织不得侵害农户的承包经营权。\n"
        "二、村民可以申请承包经营权确权登记，办理登记不收取费用。\n"
        "三、农民对承包经营权登记结果有异议的，可以申请更正。\n"
        "四、承包经营权证书由县级人民政府颁发给承包农户。"
    )
    t = label_document(doc(text, title="关于做好农村土地承包经营权确权登记颁证工作的意见"), today=TODAY)
    assert t.audience == (Audience.RESIDENT,)
    assert "农民" in t.groups


def test_care_homes_and_shops_that_must_comply_are_enterprise() -> None:
    text = (
        "一、养老院、儿童福利院应当设立隔离区，老人和儿童出现发热的，应当立即隔离。\n"
        "二、商场、超市、餐饮门店应当落实测温、消毒措施，顾客须佩戴口罩。\n"
        "三、居民进出小区应当出示通行码，老人可由家属代为申请。"
    )
    t = label_document(doc(text, title="关于加强疫情防控的通告"), today=TODAY)
    assert set(t.audience) == {Audience.RESIDENT, Audience.ENTERPRISE}


def test_individual_benefits_in_a_business_text_reach_residents() -> None:
    # the businesses dominate the text, but individuals get their own tax relief
    business = "".join(f"{k}、受疫情影响的企业可以申请延期缴纳税款，企业纳税人享受减免。\n" for k in "一二三四五六七八")
    text = (
        business + "九、个人取得的临时性工作补助和奖金，免征个人所得税。\n"
        "十、个人通过公益性社会组织捐赠的，享受税前扣除优惠。"
    )
    t = label_document(doc(text, title="关于支持疫情防控的税收优惠措施"), today=TODAY)
    assert set(t.audience) == {Audience.RESIDENT, Audience.ENTERPRISE}


def test_group_in_news_statistics_is_not_addressed() -> None:
    text = (
        "本市通报疫情情况：外地来沪人员62例，本市常住人员73例。\n累计外地来沪人员确诊病例中已出院30例。\n"
        "外地来沪人员中重症病例5例。\n市民应当配合做好防控工作，不得隐瞒行程，居民可以申请核酸检测。"
    )
    t = label_document(doc(text, title="关于疫情防控情况的通报"), today=TODAY)
    assert "外来务工与新市民" not in t.groups


def test_quota_for_a_group_is_addressed_to_it() -> None:
    text = (
        "根据流动人员积分制管理规定，经市政府审定，现将本年度指标公告如下。\n"
        "本年度流动人员积分入户指标数为4400名、入学指标数为20000名。\n"
        "申请人应当按规定提交材料。"
    )
    t = label_document(doc(text, title="本年度中山市积分入户入学指标数公告"), today=TODAY)
    assert "外来务工与新市民" in t.groups
    assert Audience.RESIDENT in t.audience
    assert_verbatim(t, text)


# Text extracted from PDFs is wrapped at a fixed width: the eligibility rule of an item goes
# on after a line break that ends no sentence.
WRAPPED = (
    "一、招生对象\n"
    "（1）具有本市常住户口的应届初中毕业生，可以填报三个批次录取学校志愿。\n"
    "（2）进城务工人员随迁子女，父母一方有合法职业和稳定住所(含租赁)，且在本\n"
    "市缴纳社会保险1年以上，在学籍注册学校连续就读3年的考生，可以报名参加\n"
    "中考。\n"
    "二、照顾政策\n"
    "2.进城务工人员随迁子女，父母一方在本市缴纳社会保险满1年，在本市\n"
    "学籍注册学校连续就读的，可以填报普通高中志愿。"
)


def test_hard_wrapped_eligibility_rule_reaches_its_group() -> None:
    t = label_document(doc(WRAPPED, title="2015年某市普通高中招生工作意见"), today=TODAY)
    # GUIDE §6: 进城务工人员随迁子女 counts for both groups
    assert {"农民工", "外来务工与新市民", "学生及家长"} <= set(t.groups)
    assert_verbatim(t, WRAPPED)
    # the quote keeps to the line that names the group rather than spanning the wrap, and
    # leaves out the item number
    assert t.evidence["农民工"] == "进城务工人员随迁子女，父母一方有合法职业和稳定住所(含租赁)，且在本"


def test_heading_without_punctuation_still_ends_a_sentence() -> None:
    # 三、… is a heading: its group mentions must not borrow the benefit in the next line
    text = (
        "三、全市外来务工人员和流动人口总体情况\n"
        "本市居民可以申请免费体检，市民凭身份证到社区卫生服务中心办理。\n"
        "居民应当如实填写健康信息，家庭成员可以一并申请。"
    )
    t = label_document(doc(text, title="关于开展居民免费体检的通知"), today=TODAY)
    assert Audience.RESIDENT in t.audience
    assert "外来务工与新市民" not in t.groups


def test_group_named_once_as_the_target_of_a_measure() -> None:
    text = (
        "一、引导返岗人员有序复工，企业可以申请稳岗返还。\n"
        "二、对高校毕业生优化就业服务，扩大在线办理事项，鼓励网上面试、网上签约。\n"
        "三、居民可以通过线上平台申请职业培训补贴。"
    )
    t = label_document(doc(text, title="关于做好复工复产就业服务的通知"), today=TODAY)
    assert "高校毕业生" in t.groups
    assert t.evidence["高校毕业生"] == "对高校毕业生优化就业服务，扩大在线办理事项，鼓励网上面试、网上签约"
    assert_verbatim(t, text)


def test_group_named_once_in_a_list_of_groups_is_an_example() -> None:
    text = (
        "一、支持企业复工复产，在复工后优先聘用大学毕业生、返乡农民工以及贫困户人员就业。\n"
        "二、企业可以申请稳岗返还和贷款贴息。\n"
        "三、职工可以申请延期缴纳住房公积金。"
    )
    t = label_document(doc(text, title="关于支持企业复工复产的措施"), today=TODAY)
    assert not {"高校毕业生", "农民工", "困难群众"} & set(t.groups)


def test_farmers_group_implies_the_rural_topic() -> None:
    text = (
        "第一条 农村集体建设用地使用权可以依法出让、出租。\n"
        "第二条 农民集体所有的建设用地流转的，应当经本集体经济组织村民会议同意。\n"
        "第三条 农户可以申请宅基地使用权登记，不收取费用。\n"
        "第四条 集体建设用地流转收益应当用于农民社会保障。"
    )
    t = label_document(doc(text, title="某省集体建设用地使用权流转管理办法"), today=TODAY)
    assert "农民" in t.groups
    assert "农业农村" in t.topics
    assert len(t.topics) <= 3


def test_group_named_once_in_a_penalty_clause_is_not_addressed() -> None:
    text = (
        "第一条 居民可以申请公共租赁住房，申请人应当提交收入证明。\n"
        "第二条 对侵害残疾人合法权益的行为，由主管部门责令改正。\n"
        "第三条 申请人应当如实申报家庭住房情况。"
    )
    t = label_document(doc(text, title="某市公共租赁住房管理办法"), today=TODAY)
    assert "残疾人" not in t.groups


@pytest.mark.parametrize(
    ("group", "sentence"),
    [
        # a place in a list of places
        ("老年人", "二、对学校、医院、养老院、福利院等特殊场所，应当采取有针对性的公告方式。"),
        # excluded from the measure
        ("学生及家长", "二、不符合参保条件的城乡居民（不含在校学生），可以在户籍地自愿参加养老保险。"),
        # publicity addressed to the group, no benefit of its own
        ("农民", "二、居民委员会、村民委员会应当协助做好禁燃工作，加强对居民、村民的宣传教育引导。"),
    ],
)
def test_group_named_once_but_not_the_target_of_a_measure(group: str, sentence: str) -> None:
    text = "一、居民可以申请补贴，申请人应当提交身份证明。\n" + sentence + "\n三、居民应当遵守本规定。"
    t = label_document(doc(text, title="关于加强社区管理的通知"), today=TODAY)
    assert Audience.RESIDENT in t.audience
    assert group not in t.groups, t.evidence


def test_short_notice_naming_its_addressee_once_has_that_audience() -> None:
    text = (
        "国家能源局近日发出通知，要求疫情重点地区周边的煤矿在做好防控的前提下有序恢复生产，"
        "优先保障发电供热用煤，严格执行中长期合同，不得借机哄抬价格。"
    )
    t = label_document(doc(text, title="国家能源局关于做好疫情期间煤炭供应的通知"), today=TODAY)
    assert t.audience == (Audience.ENTERPRISE,)


def test_going_to_court_is_not_an_applicant() -> None:
    # 申请人民法院强制执行 is the authority's step: it names no resident
    text = (
        "第一条 从事建材零售的企业应当建立进货台账，不得出售不合格产品。\n"
        "第二条 企业逾期不履行处理决定的，由作出决定的机关申请人民法院强制执行。\n"
    ) * 3
    t = label_document(doc(text, title="某市建材市场管理规定"), today=TODAY)
    assert t.audience == (Audience.ENTERPRISE,)
