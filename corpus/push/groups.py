"""Target groups of a policy, each with a verbatim quote from the text as evidence (GUIDE §2.3).

A group counts when the document is written for it (title) or names it next to a benefit,
duty, eligibility rule or quota at least once among several mentions, or, named only once, as
the sole target of a measure (对高校毕业生…, not a list of groups nor a penalty clause).
Lexicons are module-level data so they can be read, reviewed and extended in one place.
"""

from __future__ import annotations

import re

from corpus.push.audience import BENEFIT_RE
from corpus.push.sentences import HEADING_RE, sentence_at, sentence_span
from corpus.push.taxonomy import GROUPS

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


def groups_of(title: str, text: str) -> tuple[tuple[str, ...], dict[str, str]]:
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
        addressed = [h for h in hits if _ACTION_RE.search(sentence_at(text, h.start(), h.end()))]
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
    a, b = sentence_span(text, hit.start(), hit.end())
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
    if _OVERSIGHT_RE.search(text[hit.end() : hi]) and not BENEFIT_RE.search(sentence_at(text, hit.start(), hit.end())):
        return False
    return _sole(text, hit) and bool(_TARGET_RE.search(text[lo : hit.start()]))


_QUOTE_STRIP = " \u3000\t\r\n，,、：:"


def _evidence(text: str, hit: re.Match[str]) -> str | None:
    """A verbatim quote of 10-80 characters around the hit (see `_quote`), kept on one line if possible.

    A sentence joined across hard-wrapped lines stays verbatim, line breaks included, as the
    GUIDE allows; the hit's own line is preferred when it is long enough to read alone.
    """
    quote = _quote(text, hit)
    if quote and "\n" in quote:
        a, b = sentence_span(text, hit.start(), hit.end())
        lo = max(a, text.rfind("\n", a, hit.start()) + 1)
        hi = text.find("\n", hit.end(), b)
        line = text[lo : hi if hi >= 0 else b].strip(_QUOTE_STRIP)
        if EVIDENCE_MIN <= len(line) <= EVIDENCE_MAX:
            quote = line
    # an item number (二、, （2）) is not part of what the quote says
    m = HEADING_RE.match(quote) if quote else None
    if quote and m and not quote.startswith("附"):
        rest = quote[m.end() :].strip(_QUOTE_STRIP)
        if len(rest) >= EVIDENCE_MIN:
            quote = rest
    return quote


def _quote(text: str, hit: re.Match[str]) -> str | None:
    """A verbatim quote of 10-80 characters around the hit: its sentence, else its clause, else a window."""
    sent_start, sent_end = sentence_span(text, hit.start(), hit.end())
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
