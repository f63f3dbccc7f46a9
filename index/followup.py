"""Follow-up resolution: expand an elliptical question with the topic of the previous turn.

"如何申请居住证？" then "那需要什么材料？": the second question names no topic, so it is
retrieved as "居住证 申请 需要什么材料". Pure functions over a tokenizer; the conversation
store that keeps the turns lives in the service.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from index.query_terms import GENERIC_TERMS

# Openers and pronouns that point back at the previous turn.
_ANAPHORA_START = re.compile(r"^(那么|那|这个|那个|这|它|其|该|还有|另外|然后|如果是|如果|要是|同样|也)")
_PRONOUN = re.compile(r"(它|它们|这个|那个|这项|该项|这种|那种|上述|此项|这些|那些)")
# Words that ask about an aspect of a topic without naming it.
ASPECT_TERMS = frozenset(
    """材料 资料 证件 条件 流程 程序 手续 步骤 时间 期限 时限 费用 收费 多少钱 钱 标准
    地点 地址 窗口 部门 电话 网上 线上
    办理 申请 申报 提交 准备 带 携带 补贴 补助 金额 额度 对象 范围 年龄 要求 资格 期间 有效期 多久 多长 办 交 领取
    去 哪 网址 渠道 方式 途径 名额 截止 开始 结束 依据 文件 发 谁 人 本人 代办 委托 不
    可不可以 行不行 长时间 多长时间 多少天
    最多 最多能 最少 最高 最低 最长 最短 上限 下限 几年 几天 几个 多大 多高 有效 效期 有效期 贷 能贷 借 报销 比例
    如果 要是 的话 呢 情况 外地 本地""".split()
)
MAX_TURNS = 5


@dataclass(frozen=True)
class Turn:
    question: str
    query: str  # the question as retrieved (expanded if it was a follow-up)


def topic_terms(tokens: Sequence[str]) -> list[str]:
    """Tokens that name what a question is about (not question words, not aspects)."""
    return [t for t in dict.fromkeys(tokens) if t not in GENERIC_TERMS and t not in ASPECT_TERMS and len(t) >= 2]


def is_follow_up(question: str, tokenize: Callable[[str], list[str]]) -> bool:
    """Elliptical: no topic noun of its own, or a short question opening with 那/这个/它."""
    q = question.strip()
    topics = topic_terms(tokenize(q))
    if not topics:
        return True
    short = len(re.sub(r"[\s\W]", "", q)) <= 12
    return short and bool(_ANAPHORA_START.match(q) or _PRONOUN.search(q)) and len(topics) <= 2


def resolve_follow_up(question: str, history: Sequence[Turn], tokenize: Callable[[str], list[str]]) -> str:
    """The query to retrieve with: `question` itself, or prefixed by the topic of the last turn."""
    if not history or not is_follow_up(question, tokenize):
        return question
    prev = history[-1]
    # The previous query already carries its own expansion, so chains of follow-ups keep the topic.
    carried = topic_terms(tokenize(prev.query))
    if not carried:
        return question
    own = set(tokenize(question))
    extra = [t for t in carried if t not in own]
    if not extra:
        return question
    return " ".join(extra[:6]) + " " + question.strip()
