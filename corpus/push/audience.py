"""Who a policy addresses: residents, enterprises, both, or nobody (internal procedure, news).

Cue words for people (居民, 申请人, 职工…) and for businesses and private institutions (企业,
用人单位, 养老院…) are counted in the text; a side named much less than the other still counts
when it gets benefits of its own (个人…免征), and a short notice needs to name its addressee once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.push.sentences import sentence_at
from corpus.push.taxonomy import Audience

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
BENEFIT_RE = re.compile(r"补贴|补助|津贴|资助|减免|减征|免征|免收|免费|优惠|奖励|贴息|缓缴|延期|退还|返还")
# Titles of internal procedure documents (GUIDE §2.1): no resident or business can act on them.
_INTERNAL_TITLE_RE = re.compile(
    r"建议的答复|提案的答复|答复$|复函|办理情况|规范性文件|备案|立法条例|地方立法|绩效管理|组成人员|"
    r"监督工作计划|工作计划$|变更调查|激励支持|贯彻落实工作|调查和管理工作|公示制度|定额"
)
# Titles that name a policy instrument: such a text has substance even when it is short.
_INSTRUMENT_RE = re.compile(r"办法|规定|条例|通知|公告|通告|意见|细则|方案|指引|指南|措施|决定|令|规则|标准|指标|法")


@dataclass(frozen=True)
class AudienceCues:
    """What `audience_of` counts in one document; the learned audience model reads it as features."""

    internal_title: bool  # a title of internal procedure (备案, 复函…)
    instrument_title: bool  # a title naming a policy instrument (办法, 通知…)
    text_chars: int
    res: int  # resident cues, title weighing 3, 单位和个人 2
    ent: int  # enterprise cues, likewise
    both: int  # cues addressed to everyone (单位和个人…)
    measures_per_k: float  # measure words (可以, 应当…) per 1,000 characters
    res_benefit: int  # sentences naming residents with a concrete benefit
    ent_benefit: int

    def decision(self) -> tuple[Audience, ...] | None:
        """The rules' audience: None for internal procedure and news, else the sides named often enough."""
        if self.internal_title:
            return None
        # News and commentary without measures: nothing anyone can act on.
        if self.measures_per_k < 1.5 and not self.instrument_title:
            return None
        per_k = 1000 / max(self.text_chars, 1)
        min_cues = 1 if self.text_chars < SHORT_TEXT else MIN_CUES
        res, ent = self.res, self.ent
        out: list[Audience] = []
        # Each side must be named often enough, and not only in passing next to the other side; a side
        # granted a benefit in sentences of its own (个人…免征) is addressed even when the other dominates.
        if (
            res >= min_cues
            and res * per_k >= MIN_DENSITY
            and (res >= MIN_SHARE * ent or self.res_benefit >= MIN_BENEFIT)
        ):
            out.append(Audience.RESIDENT)
        if (
            ent >= min_cues
            and ent * per_k >= MIN_DENSITY
            and (ent >= MIN_SHARE * res or self.ent_benefit >= MIN_BENEFIT)
        ):
            out.append(Audience.ENTERPRISE)
        return tuple(out)


def audience_cues(title: str, text: str) -> AudienceCues:
    """The cue counts of `title` and `text` (benefit sentences only when the title is not internal)."""
    internal = bool(_INTERNAL_TITLE_RE.search(title))
    both = len(_BOTH_RE.findall(text))
    return AudienceCues(
        internal_title=internal,
        instrument_title=bool(_INSTRUMENT_RE.search(title)),
        text_chars=len(text),
        res=len(_RESIDENT_RE.findall(text)) + 3 * len(_RESIDENT_RE.findall(title)) + 2 * both,
        ent=len(_ENTERPRISE_RE.findall(text)) + 3 * len(_ENTERPRISE_RE.findall(title)) + 2 * both,
        both=both,
        measures_per_k=len(_MEASURE_RE.findall(text)) * 1000 / max(len(text), 1),
        res_benefit=0 if internal else _benefit_sentences(_RESIDENT_RE, text),
        ent_benefit=0 if internal else _benefit_sentences(_ENTERPRISE_RE, text),
    )


def audience_of(title: str, text: str) -> tuple[Audience, ...] | None:
    """The audience from cue counts; None for internal procedure and news, which address nobody."""
    if _INTERNAL_TITLE_RE.search(title):
        return None
    return audience_cues(title, text).decision()


def _benefit_sentences(cues: re.Pattern[str], text: str) -> int:
    """How many distinct sentences name one side together with a concrete benefit."""
    found = set()
    for m in cues.finditer(text):
        sentence = sentence_at(text, m.start(), m.end())
        if BENEFIT_RE.search(sentence):
            found.add(sentence)
    return len(found)
