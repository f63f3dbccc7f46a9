"""Follow-up questions the chat offers after an answer: the aspects (材料, 条件, 流程, …) that the cited
documents have a section on and the answer did not already cite.

Each is elliptical on purpose (“需要准备哪些材料？”): the conversation resolver carries the topic of the
answered question into it, so the follow-up is retrieved within the same policy.
"""

from __future__ import annotations

import re
from typing import Any

from corpus.chunking import heading_of
from index.answer import Answer

MAX_FOLLOW_UPS = 3
# (what a section heading says, the question a resident would ask about it), in the order offered.
ASPECTS = (
    (re.compile(r"材料|证明|要件"), "需要准备哪些材料？"),
    (re.compile(r"条件|对象|范围"), "申请条件是什么？"),
    (re.compile(r"程序|流程|步骤|办理方式|申请方式|申领方式"), "具体怎么办理？"),
    (re.compile(r"标准|金额|额度"), "标准是多少？"),
    (re.compile(r"时限|期限|时间"), "多长时间能办好？"),
    (re.compile(r"地点|窗口|地址|受理"), "到哪里办理？"),
    (re.compile(r"咨询|联系|电话"), "咨询电话是多少？"),
)


def _heading_lines(text: str) -> list[str]:
    """The opening words of every heading line (一、办理条件 / 第五条 申请人应当提交下列材料…)."""
    return [line.strip()[:24] for line in text.split("\n") if heading_of(line) is not None]


def follow_ups(index: Any, answer: Answer) -> list[str]:
    if answer.abstained or not answer.sentences:
        return []
    cited = {s.citation.passage_id for s in answer.sentences}
    docs = dict.fromkeys(s.citation.doc_id for s in answer.sentences)
    # Sections of the cited documents that the answer did not draw on.
    other = " ".join(" ".join(_heading_lines(p.text)) for d in docs for p in index.passages_of(d) if p.id not in cited)
    out = [q for cue, q in ASPECTS if cue.search(other) and not cue.search(answer.question)]
    return out[:MAX_FOLLOW_UPS]
