"""Push labels for one policy document: who it is for, where it applies, which groups and topics.

`label_document(doc)` returns a `corpus.targeting.Targeting` built by explainable rules over
the title and text, following the push-dev GUIDE (`../shared/data/eval/push-dev/GUIDE.md`):

- audience: cue words for people (居民, 申请人, 职工…) and for businesses and private
  institutions (企业, 用人单位, 养老院, 商场…), counted in the text; a side named much less
  than the other still counts when it gets benefits of its own (个人…免征), and a short notice
  needs to name its addressee only once; documents about
  the government's own procedures (备案审查, 建议答复, 人事调整…) and news without measures
  get no audience;
- jurisdiction: a scope clause (本市行政区域内, 适用于…区) wins, else the region of the issuer
  or title, else the region named in the opening lines; national bodies are national;
- groups: one lexicon per group; a group counts when the document is written for it (title)
  or names it next to a benefit, duty, eligibility rule or quota (补贴, 不得, 资格, 指标…) at
  least once among several mentions, or, named only once, as the sole target of a measure
  (对高校毕业生…, 符合条件的退休人员…, not a list of groups nor a penalty clause); mentions
  alone (news statistics) are not enough; each group carries a verbatim 10-80 character
  quote from the text; universal schemes (医保) get none. Sentences run across hard-wrapped
  lines (PDF text), so a group and its eligibility rule on the next line stay together;
- topics: weighted keywords, the title weighing most, 1-3 topics, plus the topic a labelled
  group implies (农民 -> 农业农村); an optional learned `topic_predictor`
  (`corpus.push_topics`) replaces the keywords when the caller has an encoder;
- expired: metadata, 已废止/已失效, or a stated validity period that ended before `today`.

Lexicons are module-level data so they can be read, reviewed and extended in one place.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import functools
import re
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

from corpus.metadata import JINAN_DISTRICTS, MUNICIPALITIES, PROVINCES, SHORT_PROVINCES, extract_region, parse_date
from corpus.models import Document, Status
from corpus.targeting import GROUPS, TOPICS, Audience, Jurisdiction, JurisdictionLevel, Targeting

__all__ = [
    "label_document",
    "TopicPredictor",
    "GROUP_CUES",
    "GROUP_TOPICS",
    "TOPIC_CUES",
    "EVIDENCE_MIN",
    "EVIDENCE_MAX",
]

EVIDENCE_MIN = 10
EVIDENCE_MAX = 80

# ---------------------------------------------------------------- lexicons: groups

# Group -> regex alternatives naming the group (GUIDE §2.3 判定口径). Kept specific: a word
# like 养老 (养老保险) or 生育 (计划生育) alone does not name a group of people.
GROUP_CUES: dict[str, str] = {
    "高校毕业生": r"高校毕业生|大中专毕业生|大学毕业生|高校应届毕业生|大中专院校毕业生|在校大学生|高校学生|毕业年度",
    "农民工": r"农民工|进城务工|农民合同制职工|外出务工人员|务工农民",
    "退役军人": r"退役军人|退役士兵|退伍军人|复员军人|转业军人",
    "老年人": r"老年人|高龄老人|[^养]老人|退休人员|离退休人员|养老机构|养老院|敬老院|孤寡老人",
    "残疾人": r"残疾人(?!民)|残疾儿童|残疾证|残疾学生|残障",
    "困难群众": r"最低生活保障|低保(?!护)|特困|低收入|贫困人口|贫困户|"
    r"建档立卡|流浪乞讨|就业困难人员|住房困难家庭|困难家庭|困难群众|困难职工",
    "外来务工与新市民": r"流动人口|居住证|暂住证|新市民|新莞人|来穗人员|外来务工|外来人员|"
    r"随迁子女|非本市户籍|非本地户籍|非户籍|外地户籍|外地来[\u4e00-\u9fff]?(?:人员|务工)|流动人员|来京人员|来沪人员|外来人口",
    "学生及家长": r"义务教育|入学|招生|中考|高考|学生|适龄儿童|升学|子女教育|学龄",
    "育儿家庭": r"婴幼儿|托育|托幼|幼儿园|入园|生育保险|孕期|产期|哺乳期|孕产|学前教育|3岁以下|三岁以下",
    "失业人员": r"失业人员|失业青年|下岗职工|下岗失业|失业登记",
    "灵活就业人员": r"灵活就业|灵活方式就业",
    "农民": r"农民(?!工|合同制)|农户|农村居民|村民(?!委员会|小组|"
    r"自治)|宅基地|土地承包|新型农业经营主体|家庭农场|农民专业合作社|种粮",
    "个体工商户": r"个体工商户|个体户|个体经营者",
    "中小微企业": r"中小企业|小微企业|中小微企业|小型微利企业|微型企业",
    "医护人员": r"医务人员|医护人员|医务工作者|医疗卫生人员|执业医师|医师|护士|卫生技术人员",
}

# Groups that are businesses: they reach `enterprise` profiles; all others reach residents.
_BUSINESS_GROUPS = ("个体工商户", "中小微企业")

# Words that make a sentence a benefit, a right or a duty for the people it names: a group
# mentioned in such a sentence is addressed, not mentioned in passing.
_ACTION_RE = re.compile(
    r"补贴|补助|资助|减免|减征|免征|免收|免费|减半|优先|照顾|救助|优惠|享受|扶持|奖励|贴息|担保|保障|"
    r"可以申请|可申请|申请|办理|申领|符合条件|适用于|给予|应当|不得|纳入|参加|接受|就读|报名|"
    r"延期|缓缴|帮扶|安置|补偿|权益|待遇|"
    # eligibility and quotas (资格, 积分入户指标) and exemptions (…除外) are written for the group too
    r"资格|积分|指标|名额|录取|除外|领取|津贴"
)

# Titles of universal schemes (GUIDE §2.3): every resident is covered, so no group is named.
_UNIVERSAL_RE = re.compile(r"医疗保险|医保|社会保险办法|社会医疗保险")

# ---------------------------------------------------------------- lexicons: topics

# Topic -> regex of cue words. Scored as title hits x TITLE_WEIGHT + text hits (capped).
TOPIC_CUES: dict[str, str] = {
    "就业创业": r"就业|创业|招聘|用工|职业培训|见习|稳岗|劳动合同|返岗|务工",
    "社会保险": r"社会保险|养老保险|医疗保险|医保|失业保险|工伤保险|生育保险|参保|社保|缴费基数|养老待遇|退休",
    "社会救助": r"救助|低保|最低生活保障|特困|临时救助|扶贫|脱贫|贫困|流浪乞讨",
    "教育": r"教育|学校|学生|入学|招生|中考|高考|幼儿园|教材|教师|就读|学位|升学",
    "养老服务": r"养老服务|养老机构|养老院|敬老院|老年人|居家养老|老人",
    "医疗卫生": r"医疗|医院|卫生|诊疗|疾病|医务|急救|药品|患者|就医|医保|公共卫生|健康",
    "住房保障": r"住房|公租房|廉租|经济适用|限价商品|保障房|租赁住房|住房公积金|房屋租赁|房地产|购房",
    "城市更新": r"城市更新|老旧小区|棚户区|旧城改造|城中村|增设电梯",
    "户籍与居住证": r"户籍|户口|落户|居住证|暂住|积分入户|流动人口|入户",
    "消费促进": r"消费|内需|扶贫产品|商贸|内外贸|促销",
    "交通出行": r"交通|出行|道路|公交|车辆|机动车|停车|客运|通行|驾驶",
    "惠企与营商环境": r"复工复产|营商环境|惠企|企业|融资|贷款|纾困|"
    r"减负|市场主体|金融服务|中小企业|小微企业|招商|产业",
    "疫情防控与应急": r"疫情|防控|新冠|肺炎|应急|防疫|传染病|隔离|灾害|防震|减灾|突发事件|险情|化学武器",
    "生态环境": r"环境|污染|排放|生态|环保|大气|扬尘|绿化|森林|林木|河道|水体|泉水|名泉|噪声|废弃物|散装水泥",
    "文化体育": r"文化|文物|体育|历史文化|名城|旅游|博物馆|非物质文化|古迹|街区",
    "农业农村": r"农业|农村|农民|农户|农机|耕地|粮食|种植|养殖|涉农|乡村|四荒|林地|畜牧|村民|土地承包",
    "市场监管": r"市场监管|监督管理|许可|广告|招牌|牌匾|烟草|知识产权|质量|"
    r"价格|执法|处罚|经营者|网络运营者|网络安全|准入|反倾销|听证|经纪",
    "规划与土地": r"规划|土地|用地|建设用地|国土|宅基地|不动产|出让|测绘|建设项目|建设工程|选址|档案",
    "税费": r"税|缴费|收费|费用减免|所得税|增值税|纳税|免征|减征|扣除",
    "公共服务": r"公共服务|供水|供电|燃气|热线|文明|市政|信息公开|网上办|不见面|政务服务|规范性文件|"
    r"行政机关|备案|通信|网络|仲裁|绩效|立法|建议|提案|答复|个人信息|市容",
}
TITLE_WEIGHT = 10
# A measure written for these groups is about this topic even when its cue words are few.
GROUP_TOPICS: dict[str, str] = {"农民": "农业农村", "中小微企业": "惠企与营商环境", "个体工商户": "惠企与营商环境"}
TOPIC_TEXT_CAP = 12
# A second or third topic needs this share of the best topic's score.
TOPIC_SHARE = 0.6

# ---------------------------------------------------------------- lexicons: audience

# People who may apply, must comply or benefit.
_RESIDENT_RE = re.compile(
    # 申请人民法院 (the authority going to court) is not an applicant
    r"居民|市民|公民|个人|群众|家庭|儿童|学生|家长|老人|老年人|患者|参保人|申请人(?!民)|当事人|流动人口|"
    r"村民|农民|农户|残疾人|妇女|未成年人|旅客|乘客|消费者|随迁子女|适龄|来京人员|来沪人员|子女|"
    r"持证人|社会公众|公众|住户|业主|购房|申请者|失业人员|毕业生|退休人员|驾驶人|"
    # employees, and people who apply or collect in person (持本人…), are residents too
    r"职工|本人"
)
# Businesses and other operators (private hospitals and care homes included).
_ENTERPRISE_RE = re.compile(
    r"企业|企事业单位|公司|经营者|经营单位|用人单位|个体工商户|商户|市场主体|生产经营|医疗机构|建设单位|施工单位|"
    r"运营单位|供应商|商家|养老机构|投资者|项目单位|开发单位|银行业|金融机构|网络运营者|纳税人|经营(?!权)|"
    r"产权单位|管理单位|使用单位|设置单位|从业|行业协会|法人|"
    # institutions and business premises that must comply (GUIDE: 民办机构 count, e.g. care homes)
    r"养老院|福利院|网点|营业场所|商场|超市|药店|餐饮|门店|宾馆|酒店|煤矿|工厂|厂家|生产单位|销售单位"
)
# Addressed to everyone: counts for both sides.
_BOTH_RE = re.compile(r"单位和个人|单位或者个人|公民、法人|法人和其他组织|法人或者其他组织")
# Policy substance: what someone may or must do.
_MEASURE_RE = re.compile(
    r"可以|可申请|申请|应当|须|不得|免收|减免|补贴|办理|给予|享受|实行|一律|禁止|暂停|延长|延期|开通|预约|"
    r"适用于|凭|优先|要求|设立|实施"
)
# A side is an audience when named at least MIN_CUES times and MIN_DENSITY times per 1,000
# characters, and either at least MIN_SHARE as often as the other side or granted a concrete
# benefit in MIN_BENEFIT sentences of its own.
MIN_CUES = 3
# A short notice (a few hundred characters) names its addressee once: 煤矿要…, 各企业….
SHORT_TEXT = 600
MIN_DENSITY = 1.0
MIN_SHARE = 0.3
MIN_BENEFIT = 2
# Concrete benefits: money, tax and fee relief, deferral.
_BENEFIT_RE = re.compile(r"补贴|补助|津贴|资助|减免|减征|免征|免收|免费|优惠|奖励|贴息|缓缴|延期|退还|返还")
# Titles of internal procedure documents (GUIDE §2.1): no resident or business can act on them.
_INTERNAL_TITLE_RE = re.compile(
    r"建议的答复|提案的答复|答复$|复函|办理情况|规范性文件|备案|立法条例|地方立法|绩效管理|组成人员|"
    r"监督工作计划|工作计划$|变更调查|激励支持|贯彻落实工作|调查和管理工作|公示制度|定额"
)
# Titles that name a policy instrument: such a text has substance even when it is short.
_INSTRUMENT_RE = re.compile(r"办法|规定|条例|通知|公告|通告|意见|细则|方案|指引|指南|措施|决定|令|规则|标准|指标|法")

# ---------------------------------------------------------------- lexicons: regions

# Prefecture-level cities by province: capitals, sub-provincial cities, all of Shandong and
# Guangdong (the service's province and the corpus's most frequent one) and other large cities.
_CITIES_BY_PROVINCE: dict[str, str] = {
    "山东省": "济南 青岛 淄博 枣庄 东营 烟台 潍坊 济宁 泰安 威海 日照 临沂 德州 聊城 滨州 菏泽 莱芜",
    "广东省": "广州 深圳 珠海 汕头 佛山 韶关 湛江 肇庆 江门 茂名 "
    "惠州 梅州 汕尾 河源 阳江 清远 东莞 中山 潮州 揭阳 云浮",
    "江苏省": "南京 苏州 无锡 常州 南通 扬州 徐州 镇江 泰州 盐城 淮安 连云港 宿迁",
    "浙江省": "杭州 宁波 温州 绍兴 嘉兴 湖州 金华 台州 衢州 丽水 舟山",
    "福建省": "福州 厦门 泉州 莆田 漳州 三明 南平 龙岩 宁德",
    "湖北省": "武汉 宜昌 襄阳 荆州 黄石 十堰 孝感 黄冈 荆门 鄂州 咸宁 随州",
    "河南省": "郑州 洛阳 开封 新乡 南阳 安阳 许昌 信阳 周口 商丘",
    "四川省": "成都 绵阳 德阳 宜宾 泸州 南充 乐山 自贡 攀枝花",
    "湖南省": "长沙 株洲 湘潭 衡阳 岳阳 常德",
    "陕西省": "西安 宝鸡 咸阳 延安 榆林",
    "辽宁省": "沈阳 大连 鞍山 抚顺 锦州",
    "吉林省": "长春 吉林市",
    "黑龙江省": "哈尔滨 齐齐哈尔 大庆 牡丹江",
    "河北省": "石家庄 唐山 保定 邯郸 廊坊 秦皇岛",
    "山西省": "太原 大同",
    "安徽省": "合肥 芜湖 蚌埠 安庆",
    "江西省": "南昌 赣州 九江",
    "广西壮族自治区": "南宁 柳州 桂林",
    "海南省": "海口 三亚 琼海",
    "贵州省": "贵阳 遵义",
    "云南省": "昆明 大理",
    "甘肃省": "兰州",
    "青海省": "西宁",
    "内蒙古自治区": "呼和浩特 包头",
    "宁夏回族自治区": "银川",
    "新疆维吾尔自治区": "乌鲁木齐",
    "西藏自治区": "拉萨",
}
_CITY_PROVINCE: dict[str, str] = {}
for _prov, _names in _CITIES_BY_PROVINCE.items():
    for _n in _names.split():
        _CITY_PROVINCE[_n.removesuffix("市") + "市"] = _prov
# Short forms used in titles and news ("武汉居住证", "筑府办发"): the city's name without 市.
_CITY_SHORT = {c[:-1]: c for c in _CITY_PROVINCE if len(c) >= 3}
_CITY_SHORT["筑"] = "贵阳市"  # 贵阳's 文号 prefix (筑府发)
# Districts of the cities our subscribers live in, so a district named alone ("番禺区") resolves.
_DISTRICTS_BY_CITY: dict[str, str] = {
    "北京市": "东城 西城 朝阳 海淀 丰台 石景山 通州 顺义 昌平 大兴 房山 门头沟 怀柔 平谷 密云 延庆",
    "上海市": "黄浦 徐汇 长宁 静安 普陀 虹口 杨浦 闵行 宝山 嘉定 浦东新 金山 松江 青浦 奉贤 崇明",
    "天津市": "和平 河东 河西 南开 河北 红桥 东丽 西青 津南 北辰 武清 宝坻 滨海新 宁河 静海 蓟州",
    "广州市": "荔湾 越秀 海珠 天河 白云 黄埔 番禺 花都 南沙 从化 增城",
    "深圳市": "福田 罗湖 南山 盐田 宝安 龙岗 龙华 坪山 光明",
    "佛山市": "禅城 南海 顺德 三水 高明",
    "成都市": "锦江 青羊 金牛 武侯 成华 龙泉驿 青白江 新都 温江 双流 郫都 金堂县",
    "南京市": "玄武 秦淮 建邺 鼓楼 浦口 栖霞 雨花台 江宁 六合 溧水 高淳",
    "武汉市": "江岸 江汉 硚口 汉阳 武昌 青山 洪山 东西湖 汉南 蔡甸 江夏 黄陂 新洲",
    "杭州市": "上城 拱墅 西湖 滨江 萧山 余杭 临平 钱塘 富阳 临安",
}
_DISTRICT_CITY: dict[str, str] = {}
for _city, _names in _DISTRICTS_BY_CITY.items():
    for _n in _names.split():
        _DISTRICT_CITY[_n if _n.endswith(("区", "县")) else _n + "区"] = _city

# Bodies whose documents apply nationwide.
_NATIONAL_RE = re.compile(
    r"^(?:中华人民共和国|中共中央|国务院|全国人[大民]|国家(?!级)|中央|财政部|教育部|公安部|民政部|商务部|"
    r"海关总署|税务总局|人力资源(?:和)?社会保障部|人社部|劳动(?:和社会保障|保障)?部|劳保部|卫生部|农业部|"
    r"国土资源部|自然资源部|住房和城乡建设部|建设部|交通运输部|工业和信息化部|工信部|生态环境部|环境保护部|"
    r"国家卫生|人民银行|中国人民银行|银保监会|证监会|国家发展|发改|[^\s，。]{1,10}部(?:令|关于|：|-|办公厅)|"
    r"[^\s，。]{1,8}总局)"
)
_ALL_PROVINCES_RE = re.compile(r"各省、自治区、直辖市")
_NATIONAL_SIGN_RE = re.compile(
    r"(?:国务院|国家[\u4e00-\u9fff]{2,12}(?:局|委员会|总局)|海关总署|[\u4e00-\u9fff]{2,10}(?<!指挥|俱乐)(?<!支)部)\s*(?:19|20)\d\d年"
)
_LOCAL_RE = re.compile(r"我市|本市|我省|本省")
_SOURCE_RE = re.compile(r"来源[:：]\s*([\u4e00-\u9fff]{2,12})")
_NATIONAL_LAW_RE = re.compile(r"^[^省市区县]{2,20}法(?:（[^）]*）)?(?:\d{4})?$")
_SCOPE_RE = re.compile(
    r"(?:本(?:省|市|区|县|自治区)(?:行政区域|行政区划|范围|辖区)(?:内|范围内))|(?:适用于[^。；\n]{0,40})"
)
_REGION_NAME_RE = re.compile(r"([\u4e00-\u9fff]{2,4}?(?:区|县))")

# ---------------------------------------------------------------- expiry

_SELF_RE = r"本(?:办法|细则|实施细则|规定|意见|通知|方案|条例|决定|指引|公告|通告|标准|指标|规则|措施|文件|政策|指南)"
_DATE = r"(?:(?:19|20)\d\d\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日|(?:19|20)\d\d[-./]\d{1,2}[-./]\d{1,2})"
_VALID_UNTIL_RE = re.compile(rf"有效期(?:至|到|截至)\s*({_DATE})")
_FROM_TO_RE = re.compile(rf"自\s*{_DATE}\s*(?:起\s*)?至\s*({_DATE})\s*(?:止\s*)?(?:施行|执行|实施|有效)")
_VALID_YEARS_RE = re.compile(
    r"有效期(?:为)?\s*([0-9一二三四五六七八九十两]{1,3})\s*年(?:[（(]\s*((?:19|20)\d\d)\s*年起)?"
)
_START_RE = re.compile(rf"自\s*({_DATE}|[^，。；\n]{{0,12}}之日)\s*起\s*(?:正式)?(?:施行|执行|实施|生效)")
_REPEALED_RE = re.compile(
    r"(?:已|已经)(?:被[^。；\n]{0,40})?(?:全文)?(?:废止|失效)|(?:废止|失效)日期\s*[:：]?\s*(?:19|20)\d\d"
)
_CN_NUMBER = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


# ---------------------------------------------------------------- public API


class TopicPredictor(Protocol):
    """Topics of a document from a learned model (`corpus.push_topics.TopicClassifier`)."""

    def predict(self, doc: Document) -> tuple[str, ...]: ...


def label_document(doc: Document, today: str | None = None, topic_predictor: TopicPredictor | None = None) -> Targeting:
    """Push labels of `doc`. `today` (ISO date) decides whether a stated validity period has ended.

    `topic_predictor`, when given, replaces the keyword topic rules (the topic a labelled group
    implies is still added); without it, the rules decide, so no encoder is ever needed.
    """
    today = _check_today(today)
    title = doc.title or ""
    text = doc.text or ""
    if not text.strip() and not title.strip():
        return Targeting(doc_id=doc.id, expired=doc.status is Status.EXPIRED)
    expired, reason = _expiry(doc, today)
    jurisdiction = _jurisdiction(doc)
    audience = _audience(title, text)
    # internal procedure and news get no groups either: nobody is addressed
    groups, evidence = ((), {}) if audience is None else _groups(title, text)
    audience = audience or ()
    # a group named with a benefit or duty makes its side an audience (GUIDE §2.1)
    if any(g not in _BUSINESS_GROUPS for g in groups) and Audience.RESIDENT not in audience:
        audience = (Audience.RESIDENT, *audience)
    if any(g in _BUSINESS_GROUPS for g in groups) and Audience.ENTERPRISE not in audience:
        audience = (*audience, Audience.ENTERPRISE)
    if Audience.RESIDENT not in audience:
        # groups of people other than businesses reach residents only
        keep = {g for g in groups if g in _BUSINESS_GROUPS}
        groups = tuple(g for g in groups if g in keep)
        evidence = {g: q for g, q in evidence.items() if g in keep}
    return Targeting(
        doc_id=doc.id,
        audience=audience,
        jurisdiction=jurisdiction,
        groups=groups,
        evidence=evidence,
        topics=_topics(title, text, groups)
        if topic_predictor is None
        else _with_group_topics(topic_predictor.predict(doc), groups),
        expired=expired,
        expired_reason=reason,
    )


def _check_today(today: str | None) -> str:
    if today is None:
        return _dt.date.today().isoformat()
    try:
        return _dt.date.fromisoformat(today).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"today must be an ISO date like 2026-11-29, got {today!r}") from None


# ---------------------------------------------------------------- audience


def _audience(title: str, text: str) -> tuple[Audience, ...] | None:
    """The audience from cue counts; None for internal procedure and news, which address nobody."""
    if _INTERNAL_TITLE_RE.search(title):
        return None
    per_k = 1000 / max(len(text), 1)
    both = len(_BOTH_RE.findall(text))
    res = len(_RESIDENT_RE.findall(text)) + 3 * len(_RESIDENT_RE.findall(title)) + 2 * both
    ent = len(_ENTERPRISE_RE.findall(text)) + 3 * len(_ENTERPRISE_RE.findall(title)) + 2 * both
    measures = len(_MEASURE_RE.findall(text)) * per_k
    # News and commentary without measures: nothing anyone can act on.
    if measures < 1.5 and not _INSTRUMENT_RE.search(title):
        return None
    # A side granted a benefit in sentences of its own (个人…免征, 职工…缓缴) is addressed even
    # when the other side dominates the text.
    res_benefit = _benefit_sentences(_RESIDENT_RE, text)
    ent_benefit = _benefit_sentences(_ENTERPRISE_RE, text)
    min_cues = 1 if len(text) < SHORT_TEXT else MIN_CUES
    out: list[Audience] = []
    # Each side must be named often enough, and not only in passing next to the other side.
    if res >= min_cues and res * per_k >= MIN_DENSITY and (res >= MIN_SHARE * ent or res_benefit >= MIN_BENEFIT):
        out.append(Audience.RESIDENT)
    if ent >= min_cues and ent * per_k >= MIN_DENSITY and (ent >= MIN_SHARE * res or ent_benefit >= MIN_BENEFIT):
        out.append(Audience.ENTERPRISE)
    return tuple(out)


def _benefit_sentences(cues: re.Pattern[str], text: str) -> int:
    """How many distinct sentences name one side together with a concrete benefit."""
    found = set()
    for m in cues.finditer(text):
        sentence = _sentence(text, m.start(), m.end())
        if _BENEFIT_RE.search(sentence):
            found.add(sentence)
    return len(found)


# ---------------------------------------------------------------- jurisdiction


def _jurisdiction(doc: Document) -> Jurisdiction:
    title = re.sub(r"\s+", "", doc.title or "")
    text = doc.text or ""
    head = text[:300]
    issuer = doc.issuer or ""
    national = bool(_NATIONAL_RE.search(title) or _NATIONAL_RE.search(issuer) or _NATIONAL_LAW_RE.search(title))
    if not title or doc.metadata.get("title_from_text"):
        national = national or bool(_NATIONAL_RE.search(head.lstrip("（( 　")))
    # written to every province, or signed by a national body
    national = national or bool(_ALL_PROVINCES_RE.search(head)) or bool(_NATIONAL_SIGN_RE.search(text[-80:]))
    if national:
        # a national body writing to or about one place (复函, 先行区): that place
        about = title.split("关于", 1)[1] if "关于" in title else ""
        place = _region_at_start(about.removeprefix("在"))
        if place and (title.endswith(("复函", "函")) or about.startswith("在")):
            return place
        return Jurisdiction()
    base = (
        _parse_region(doc.region or "")
        or _parse_region(extract_region(title, issuer) or "")
        or _region_in(title)
        or _parse_region(str(doc.metadata.get("source_issuer") or ""))
        or _region_in(head, skip_datelines=True)
        or _region_in(" ".join(_SOURCE_RE.findall(text[-300:])))
    )
    if base is None:
        # a local text ("我市…") whose place we cannot name: reach no one rather than everyone
        m = _LOCAL_RE.search(text[:1000])
        if m:
            level = JurisdictionLevel.PROVINCIAL if "省" in m.group(0) else JurisdictionLevel.MUNICIPAL
            return Jurisdiction(level)
        return Jurisdiction()
    return _scoped(base, text)


def _scoped(base: Jurisdiction, text: str) -> Jurisdiction:
    """Narrow a city-level jurisdiction to named districts when the scope clause lists them."""
    if base.level is JurisdictionLevel.DISTRICT or base.level is JurisdictionLevel.NATIONAL:
        return base
    for m in _SCOPE_RE.finditer(text[:3000]):
        clause = m.group(0)
        if "行政区域" in clause or "全市" in clause or "全省" in clause:
            return base
        names = []
        for d in _REGION_NAME_RE.findall(clause):
            d = d.removeprefix("本市").removeprefix("本")
            if base.city == "济南市" and d not in JINAN_DISTRICTS:
                continue
            known = d in JINAN_DISTRICTS or d in _DISTRICT_CITY
            if (
                d
                and d not in names
                and (known or not re.search(r"社区|园区|城区|辖区|景区|小区|地区|本区|各区|区县", d))
            ):
                names.append(d)
        if names and base.city:
            return Jurisdiction(JurisdictionLevel.DISTRICT, base.province, base.city, tuple(names))
    return base


def _parse_region(region: str) -> Jurisdiction | None:
    """济南市历城区 / 上海市 / 宁夏回族自治区 / 武汉市 -> Jurisdiction."""
    region = re.sub(r"\s+", "", region)
    if not region or region == "全国":
        return None
    province = city = district = None
    rest = region
    for p in PROVINCES:
        if rest.startswith(p):
            province, rest = p, rest[len(p) :]
            break
    else:
        for short, p in SHORT_PROVINCES.items():
            if rest.startswith(short) and len(rest) <= len(short) + 1:
                province, rest = p, ""
                break
    if province in MUNICIPALITIES:
        city = province
    else:
        m = re.match(r"([\u4e00-\u9fff]{2,8}?(?:市|自治州|地区|盟))", rest)
        if m:
            city, rest = m.group(1), rest[m.end() :]
            province = province or _CITY_PROVINCE.get(city)
        else:
            for short, full in _CITY_SHORT.items():
                if rest.startswith(short):
                    city, rest = full, rest[len(short) :]
                    province = province or _CITY_PROVINCE.get(full)
                    break
    m = re.match(r"([\u4e00-\u9fff]{1,6}?(?:区|县|旗))", rest)
    if m and city:
        district = m.group(1)
    if not province:
        if city is None and district is None:
            for d in JINAN_DISTRICTS:
                if region.startswith(d):
                    return Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", (d,))
            m = re.match(r"[\u4e00-\u9fff]{1,4}?[区县]", region)
            if m and m.group(0) in _DISTRICT_CITY:
                c = _DISTRICT_CITY[m.group(0)]
                p = c if c in MUNICIPALITIES else _CITY_PROVINCE[c]
                return Jurisdiction(JurisdictionLevel.DISTRICT, p, c, (m.group(0),))
        return None
    if district:
        return Jurisdiction(JurisdictionLevel.DISTRICT, province, city, (district,))
    if city and province not in MUNICIPALITIES:
        return Jurisdiction(JurisdictionLevel.MUNICIPAL, province, city)
    return Jurisdiction(JurisdictionLevel.PROVINCIAL, province)


def _region_at_start(s: str) -> Jurisdiction | None:
    m = re.match(r"[\u4e00-\u9fff]{2,20}?(?:省|市|自治区)(?:[\u4e00-\u9fff]{1,6}?(?:市|县|区))?", s)
    if m:
        return _parse_region(m.group(0))
    for short, p in SHORT_PROVINCES.items():
        if s.startswith(short):
            return _parse_region(p)
    return None


_DATELINE_RE = re.compile(r"(?:新华社|中新网|人民网|央视网|中新社)[\u4e00-\u9fff]{2,4}\d{1,2}月\d{1,2}日电")


def _region_in(s: str, skip_datelines: bool = False) -> Jurisdiction | None:
    """The first place named anywhere in `s`: a province, a listed city, or a Jinan district."""
    if skip_datelines:
        s = _DATELINE_RE.sub("", s)
    best: tuple[int, Jurisdiction] | None = None
    candidates: list[tuple[int, str]] = []
    for p in PROVINCES:
        i = s.find(p)
        if i >= 0:
            candidates.append((i, p))
    for short, p in SHORT_PROVINCES.items():
        i = s.find(short)
        if i >= 0 and (len(short) >= 3 or s[i + len(short) : i + len(short) + 1] != "路"):
            candidates.append((i, p))
    for c in _CITY_PROVINCE:
        i = s.find(c)
        if i >= 0:
            candidates.append((i, _CITY_PROVINCE[c] + c))
    for short, c in _CITY_SHORT.items():
        if len(short) < 2:
            continue
        i = s.find(short)
        if i >= 0:
            candidates.append((i, _CITY_PROVINCE[c] + c))
    for d in JINAN_DISTRICTS:
        i = s.find(d)
        if i >= 0:
            candidates.append((i, "山东省济南市" + d))
    for d in _DISTRICT_CITY:
        i = s.find(d)
        if i >= 0:
            candidates.append((i, d))
    for i, name in sorted(candidates, key=lambda c: (c[0], -len(c[1]))):
        # a district right after the city (南京市建邺区, 番禺区…)
        after = s[i:]
        tail = re.match(
            r"[\u4e00-\u9fff]{2,9}?(?:省|市|自治区)?([\u4e00-\u9fff]{1,4}?区|[\u4e00-\u9fff]{1,4}?县)", after
        )
        j = _parse_region(name)
        if j is None:
            continue
        if best is None:
            best = (i, j)
            if tail and j.level is JurisdictionLevel.MUNICIPAL and after.startswith(j.city or "\0"):
                d = tail.group(1)
                if not re.search(r"社区|园区|城区|辖区|景区|小区|地区|新区|开发区|全区|市区", d):
                    best = (i, Jurisdiction(JurisdictionLevel.DISTRICT, j.province, j.city, (d,)))
            break
    return best[1] if best else None


# ---------------------------------------------------------------- groups and evidence


def _groups(title: str, text: str) -> tuple[tuple[str, ...], dict[str, str]]:
    if _UNIVERSAL_RE.search(title):
        return (), {}
    groups: list[str] = []
    evidence: dict[str, str] = {}
    for group in GROUPS:
        pattern = re.compile(GROUP_CUES[group])
        hits = list(pattern.finditer(text))
        if not hits:
            continue
        in_title = bool(pattern.search(title))
        addressed = [h for h in hits if _ACTION_RE.search(_sentence(text, h.start(), h.end()))]
        # named more than once and at least once with a benefit, duty or eligibility rule; a group
        # named only in counts or descriptions (外地来沪人员62例) is mentioned in passing, however often
        if in_title or (addressed and len(hits) >= 2):
            quote = _evidence(text, (addressed or hits)[0])
        else:
            # named once, it counts only as the target of a measure (对高校毕业生…, 符合条件的退休人员…)
            targeted = [h for h in addressed if _targeted(text, h)]
            if not targeted:
                continue
            quote = _evidence(text, targeted[0])
        if quote:
            groups.append(group)
            evidence[group] = quote
    # 进城务工人员随迁子女 matches both 农民工 and 外来务工与新市民, as GUIDE §6 asks
    return tuple(groups), evidence


# Before a group in its clause: the group is the target of the measure (对…, 符合条件的…).
_TARGET_RE = re.compile(
    r"(?:(?<![应面反核相绝])对(?![外内接照比口标])于?|针对|(?<!不)符合[^，,。；：]{0,10}条件的?)[^，,。；：]{0,40}$"
)
# ...unless the group is excluded (不含在校学生) or named by its institution: a single 养老院 or
# 幼儿园 is a place in a list of places, not the people the measure is for.
_NOT_TARGET_RE = re.compile(r"不含|不包括|(?<![解免排消])除")
_INSTITUTION_RE = re.compile(r"(?:院|园|机构|学校)$")
# ...or what is done to the group is publicity, teaching or oversight without a benefit of its own
# (加强对居民、村民的宣传教育引导, 学校应当对学生开展…教育).
_OVERSIGHT_RE = re.compile(r"宣传|教育|培训|监督|监管|管理|检查|引导|指导")
# Penalty clauses (对侵害流动人口合法权益的行为…) address violators and officials, not the group.
_VIOLATION_RE = re.compile(r"行为|违法|违规|违反|侵害|拒绝")
_ALL_GROUPS_RE = re.compile("|".join(f"(?:{p})" for p in GROUP_CUES.values()))


def _clause_span(text: str, hit: re.Match[str]) -> tuple[int, int]:
    a, b = _sentence_span(text, hit.start(), hit.end())
    lo = max(a, max(text.rfind(c, a, hit.start()) for c in "，,：") + 1)
    his = [text.find(c, hit.end(), b) for c in "，,："]
    return lo, min([x for x in his if x >= 0], default=b)


def _sole(text: str, hit: re.Match[str]) -> bool:
    """True when no other group is named in the clause of `hit`: a list of groups gives examples."""
    lo, hi = _clause_span(text, hit)
    return len(_ALL_GROUPS_RE.findall(text[lo:hi])) <= 1


def _targeted(text: str, hit: re.Match[str]) -> bool:
    """True when the clause around `hit` makes its group, and only it, the target of a measure.

    A clause naming several groups (优先聘用大学毕业生、返乡农民工以及贫困户) lists examples.
    """
    lo, hi = _clause_span(text, hit)
    if _VIOLATION_RE.search(text[lo:hi]) or _NOT_TARGET_RE.search(text[lo : hit.start()]):
        return False
    if _INSTITUTION_RE.search(hit.group(0)):
        return False
    if _OVERSIGHT_RE.search(text[hit.end() : hi]) and not _BENEFIT_RE.search(_sentence(text, hit.start(), hit.end())):
        return False
    return _sole(text, hit) and bool(_TARGET_RE.search(text[lo : hit.start()]))


_SENT_END = "。；;！？!?"
# A line that opens a chapter, article or numbered item starts a new sentence.
_HEADING_RE = re.compile(
    r"[ \t\u3000]*(?:第[一二三四五六七八九十百零〇\d]+[章节条款编部分]|[一二三四五六七八九十]+[、．.]|"
    r"[（(][一二三四五六七八九十\d]{1,3}[）)]|\d{1,2}[、．.](?!\d)|[①-⑳]|附件|附[:：])"
)
# Lines shorter than this are titles, headings, table cells or signatures, not a wrapped sentence.
WRAP_MIN = 12


@functools.lru_cache(maxsize=16)
def _sentence_ends(text: str) -> tuple[int, ...]:
    """Positions that end a sentence: end punctuation, and line breaks that are not hard wraps.

    Text extracted from PDFs and old web pages is wrapped at a fixed width, so a line break in
    the middle of a clause (…且在郑\n缴纳社会保险…) must not cut a group off from its eligibility
    rule; a break after end punctuation or a colon, before a heading or an item marker, after a
    short line or at a blank line still ends the sentence.
    """
    ends = [i for i, c in enumerate(text) if c in _SENT_END]
    pos = 0
    lines = text.split("\n")
    for k, line in enumerate(lines[:-1]):
        pos += len(line)
        if not _hard_wrap(line, lines[k + 1]):
            ends.append(pos)
        pos += 1
    return tuple(sorted(ends))


def _hard_wrap(line: str, following: str) -> bool:
    """True when the break between `line` and `following` only wraps a sentence that goes on."""
    body = line.strip(" \t\u3000").rstrip("”’」』\"'")
    if len(body) < WRAP_MIN or not following.strip() or body[-1] in _SENT_END + "：:":
        return False
    if _HEADING_RE.match(following):
        return False
    # a heading line (一、总则) has no comma; a wrapped numbered item (（2）进城务工人员…，…) does
    return not (_HEADING_RE.match(line) and not re.search(r"[，,]", line))


def _sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    ends = _sentence_ends(text)
    i = bisect.bisect_left(ends, start)
    j = bisect.bisect_left(ends, end)
    return (ends[i - 1] + 1 if i else 0), (ends[j] if j < len(ends) else len(text))


def _sentence(text: str, start: int, end: int) -> str:
    a, b = _sentence_span(text, start, end)
    return text[a:b]


_QUOTE_STRIP = " \u3000\t\r\n，,、：:"


def _evidence(text: str, hit: re.Match[str]) -> str | None:
    """A verbatim quote of 10-80 characters around the hit (see `_quote`), kept on one line if possible.

    A sentence joined across hard-wrapped lines stays verbatim, line breaks included, as the
    GUIDE allows; the hit's own line is preferred when it is long enough to read alone.
    """
    quote = _quote(text, hit)
    if quote and "\n" in quote:
        a, b = _sentence_span(text, hit.start(), hit.end())
        lo = max(a, text.rfind("\n", a, hit.start()) + 1)
        hi = text.find("\n", hit.end(), b)
        line = text[lo : hi if hi >= 0 else b].strip(_QUOTE_STRIP)
        if EVIDENCE_MIN <= len(line) <= EVIDENCE_MAX:
            quote = line
    # an item number (二、, （2）) is not part of what the quote says
    m = _HEADING_RE.match(quote) if quote else None
    if quote and m and not quote.startswith("附"):
        rest = quote[m.end() :].strip(_QUOTE_STRIP)
        if len(rest) >= EVIDENCE_MIN:
            quote = rest
    return quote


def _quote(text: str, hit: re.Match[str]) -> str | None:
    """A verbatim quote of 10-80 characters around the hit: its sentence, else its clause, else a window."""
    sent_start, sent_end = _sentence_span(text, hit.start(), hit.end())
    sentence = text[sent_start:sent_end]
    quote = sentence.strip(_QUOTE_STRIP)
    if EVIDENCE_MIN <= len(quote) <= EVIDENCE_MAX:
        return quote
    if len(quote) > EVIDENCE_MAX:
        # the clause between commas around the hit, widened to neighbours until long enough
        rel_s, rel_e = hit.start() - sent_start, hit.end() - sent_start
        cuts = [0] + [i + 1 for i, c in enumerate(sentence) if c in "，,："] + [len(sentence)]
        lo = max(c for c in cuts if c <= rel_s)
        hi = min(c for c in cuts if c >= rel_e)
        while hi - lo < EVIDENCE_MIN + 2:
            widened = False
            nxt = [c for c in cuts if c > hi]
            if nxt and nxt[0] - lo <= EVIDENCE_MAX:
                hi, widened = nxt[0], True
            prv = [c for c in cuts if c < lo]
            if hi - lo < EVIDENCE_MIN + 2 and prv and hi - prv[-1] <= EVIDENCE_MAX:
                lo, widened = prv[-1], True
            if not widened:
                break
        quote = sentence[lo:hi].strip(_QUOTE_STRIP)
        if EVIDENCE_MIN <= len(quote) <= EVIDENCE_MAX:
            return quote
        # a fixed window centred on the hit
        a = max(0, hit.start() - 30)
        quote = text[a : a + 60]
    else:
        a = max(0, hit.start() - 20)
        quote = text[a : a + 40]
    # the window's longest line: a quote shown to residents should not break across lines
    quote = max(quote.split("\n"), key=len).strip()
    if EVIDENCE_MIN <= len(quote) <= EVIDENCE_MAX and quote in text:
        return quote
    return None


# ---------------------------------------------------------------- topics


def topic_scores(title: str, text: str) -> Counter[str]:
    """Cue score of every topic: title hits x TITLE_WEIGHT + text hits (at most TOPIC_TEXT_CAP)."""
    scores: Counter[str] = Counter()
    for topic in TOPICS:
        pattern = re.compile(TOPIC_CUES[topic])
        t_hits = len(pattern.findall(title))
        x_hits = min(len(pattern.findall(text)), TOPIC_TEXT_CAP)
        scores[topic] = TITLE_WEIGHT * t_hits + x_hits
    return scores


def rule_topics(title: str, text: str) -> tuple[str, ...]:
    """The keyword rules' 1-3 topics, before any group-implied topic is added."""
    return _topics(title, text)


def _topics(title: str, text: str, groups: tuple[str, ...] = ()) -> tuple[str, ...]:
    """1-3 topics by cue scores, plus the topic a labelled group implies (农民 -> 农业农村)."""
    scores = topic_scores(title, text)
    ranked = [(t, s) for t, s in scores.most_common() if s > 0]
    if not ranked:
        return ("公共服务",)
    top = ranked[0][1]
    chosen = [t for t, s in ranked[:3] if s >= max(3, TOPIC_SHARE * top)] or [ranked[0][0]]
    return _with_group_topics(chosen, groups)


def _with_group_topics(topics: Iterable[str], groups: tuple[str, ...]) -> tuple[str, ...]:
    """`topics` plus, while there is room for 3, the topic each labelled group implies (农民 -> 农业农村)."""
    chosen = list(topics)
    for group in groups:
        implied = GROUP_TOPICS.get(group)
        if implied and implied not in chosen and len(chosen) < 3:
            chosen.append(implied)
    return tuple(chosen)


# ---------------------------------------------------------------- expiry


def _expiry(doc: Document, today: str) -> tuple[bool, str | None]:
    if doc.status is Status.EXPIRED or doc.metadata.get("expired") is True:
        return True, "元数据标注已失效"
    title, text = doc.title or "", doc.text or ""
    if re.search(r"已废止|已失效|（废止）|\(废止\)|（失效）", title):
        return True, "标题注明已废止或失效"
    m = _REPEALED_RE.search(text[:400])
    if m:
        return True, f"正文写明：{_sentence(text, m.start(), m.end()).strip()[:40]}"
    end = _validity_end(doc)
    if end and end < today:
        return True, f"有效期已于{end}届满"
    return False, None


def _validity_end(doc: Document) -> str | None:
    """The end of the document's own validity period, if the text states one."""
    text = doc.text or ""
    for m in _VALID_UNTIL_RE.finditer(text):
        if _about_self(text, m.start()):
            return parse_date(m.group(1))
    for m in _FROM_TO_RE.finditer(text):
        if _about_self(text, m.start()):
            return parse_date(m.group(1))
    for m in _VALID_YEARS_RE.finditer(text):
        if not _about_self(text, m.start()):
            continue
        years = _cn_int(m.group(1))
        if years is None:
            continue
        start = None
        if m.group(2):
            start = f"{m.group(2)}-01-01"
        else:
            sentence = _sentence(text, m.start(), m.end())
            s = _START_RE.search(sentence)
            if s:
                start = parse_date(s.group(1))
            start = start or doc.effective_date or doc.publish_date
        if start:
            y, rest = int(start[:4]), start[4:]
            end = f"{y + years}{rest}"
            try:
                return (_dt.date.fromisoformat(end) - _dt.timedelta(days=1)).isoformat()
            except ValueError:
                return f"{y + years}-12-31"
    return None


def _about_self(text: str, pos: int) -> bool:
    """True when the validity clause at pos speaks of this document (本办法…, 现予发布…), not of a licence."""
    sentence_start = _sentence_span(text, pos, pos)[0]
    before = text[sentence_start:pos]
    return bool(
        re.search(_SELF_RE, before)
        or re.search(r"现予(?:发布|印发|公布)|自发布之日起|起(?:正式)?(?:施行|实施|执行)", before)
    )


def _cn_int(s: str) -> int | None:
    if s.isdigit():
        return int(s)
    if s in _CN_NUMBER:
        return _CN_NUMBER[s]
    if s.startswith("十") and len(s) == 2:
        return 10 + _CN_NUMBER.get(s[1], 0)
    return None
