"""What a question's words say: question words to ignore, colloquial forms to expand, the type of
answer asked for (材料 / 条件 / 时限 / 金额·标准 / 地点·电话 / 流程).

`expand_terms` is the one hook where abbreviations meet retrieval: the engine calls it on the
BM25 query tokens, so the console's search and the Q&A pipeline both see 公租房 as 公共租赁住房.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources

# Question words and fillers: they say what kind of answer is wanted, not what it is about,
# so they neither count as covered nor as missing.
GENERIC_TERMS = frozenset(
    """什么 怎么 怎样 怎么样 如何 哪些 哪个 哪里 哪儿 多少 几 吗 呢 吧 啊 呀 请问 请 问 想 想问 我 我们 你 你们 您
    可以 能 能否 能不能 是否 是不是 需要 要 应该 应当 有没有 有 没有 是 的 了 在 和 与 及 或 对 给 把 被 为 为了
    相关 有关 关于 规定 政策 办法 情况 问题 一下 一些 哪 谁 何 何时 多久 多长时间 时候 现在 目前 还 也 都 就 又
    那 那么 这 这个 那个 它 该 其 此 上述 以上 之 等 方面 内容 具体 主要 一般 怎么办 为什么 咨询 了解 知道""".split()
)

ABBREVIATIONS_RESOURCE = "abbreviations.json"


@functools.cache
def abbreviations() -> Mapping[str, tuple[str, ...]]:
    """term -> formal expansions, from index/resources/abbreviations.json (read once)."""
    raw = json.loads((resources.files("index") / "resources" / ABBREVIATIONS_RESOURCE).read_text(encoding="utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for entry in raw["entries"]:
        term, exp = entry["term"], tuple(entry["expansions"])
        if not term or not exp or any(not e for e in exp):
            raise ValueError(f"{ABBREVIATIONS_RESOURCE}: entry {entry!r} needs a term and non-empty expansions")
        out[term] = exp
    return out


def expansions_in(text: str, table: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Formal forms of the colloquial terms in `text` that `text` does not already contain."""
    table = abbreviations() if table is None else table
    out: list[str] = []
    for term, exp in table.items():
        if term in text:
            out += [e for e in exp if e not in text and e not in out]
    return out


def expand_terms(
    query: str,
    tokens: list[str],
    tokenize: Callable[[str], list[str]],
    table: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """BM25 query tokens plus those of the expansions of any abbreviation in `query`."""
    extra = expansions_in(query, table)
    if not extra:
        return tokens
    seen = set(tokens)
    out = list(tokens)
    for form in extra:
        for t in tokenize(form):
            if t not in seen:
                seen.add(t)
                out.append(t)
    return out


# -- question and sentence types ----------------------------------------------------------------
# (type, what a question asking for it says, what a sentence answering it says)
ANSWER_TYPES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "材料",
        re.compile(r"材料|资料|证件|证明|带什么|携带|提交什么|准备什么|要件"),
        re.compile(r"材料|证明|复印件|原件|身份证|户口簿|申请表|登记表|证书|照片|营业执照|提交|提供|携带"),
    ),
    (
        "条件",
        re.compile(r"条件|资格|谁能|哪些人|什么人|对象|范围|符合|能不能|可以.*吗|是否"),
        re.compile(r"条件|符合|具有|具备|年满|对象|范围|须|应当|不得|未满|以上|以下|户籍|持有"),
    ),
    (
        "时限",
        re.compile(r"多久|多长时间|几天|时限|期限|期间|什么时候|何时|截止|有效期|时间"),
        re.compile(r"\d+\s*(个)?(工作日|日|天|月|年|小时)|日内|之日起|期限|有效期|截止|之前|以前|年度"),
    ),
    (
        "金额",
        re.compile(r"多少钱|多少元|金额|标准|补贴多少|补助多少|发多少|领多少|额度|比例|费用|收费|最高|上限"),
        re.compile(r"\d+(\.\d+)?\s*(万元|元|%|％)|标准|比例|额度|最高|不超过|不低于|每人|每月|每年|按照"),
    ),
    (
        "地点",
        re.compile(r"哪里|哪儿|在哪|地点|地址|窗口|电话|热线|联系|网址|网站|平台|部门"),
        re.compile(r"地址|地点|窗口|大厅|服务中心|电话|热线|\d{7,}|\d{3,4}-\d{7,8}|网站|网址|平台|路\d+号"),
    ),
    (
        "流程",
        re.compile(r"怎么办|如何办|怎么申请|如何申请|流程|程序|手续|步骤|怎么领|如何领|办理|申请方式|途径|渠道"),
        re.compile(r"流程|程序|步骤|申请|受理|审核|审批|公示|办理|登录|提交|向.*提出|经.*审核"),
    ),
)
TYPE_NAMES = tuple(name for name, _, _ in ANSWER_TYPES)


def question_types(question: str) -> frozenset[str]:
    """The kinds of answer a question asks for (may be several, or none: 'about X')."""
    return frozenset(name for name, q, _ in ANSWER_TYPES if q.search(question))


def sentence_types(sentence: str) -> frozenset[str]:
    return frozenset(name for name, _, s in ANSWER_TYPES if s.search(sentence))


# What a section title naming an answer type says ("二、所需材料", "办理时限", "补贴标准", "咨询电话").
HEADING_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("材料", re.compile(r"材料|要件|证件|资料|证明")),
    ("条件", re.compile(r"条件|资格|对象|范围|准入")),
    ("时限", re.compile(r"时限|期限|时间|时效|日期")),
    ("金额", re.compile(r"标准|金额|费用|收费|额度|待遇|补贴|补助|奖励")),
    ("地点", re.compile(r"地点|地址|窗口|电话|联系|咨询方式|网址")),
    ("流程", re.compile(r"流程|程序|步骤|方式|途径|渠道|手续")),
)


def heading_types(heading: str) -> frozenset[str]:
    """The answer types a section title names."""
    return frozenset(name for name, pat in HEADING_TYPES if pat.search(heading))
