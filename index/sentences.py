"""Candidate answer sentences of a passage: split, with headings cut off and list items kept with
their lead-in, plus the helpers that mark and join them.

A policy text's "sentence" is often not one: "…填报信息。三、报名方式进城务工人员…" carries a heading
inside it, and "申请人应当提交下列材料：（一）身份证；（二）户口簿" is one answer in three pieces.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from corpus.chunking import heading_of
from corpus.models import Passage

_SENTENCE_END = re.compile(r"[。！？!?；;\n]+")
MIN_SENTENCE_CHARS = 6
# A numbered heading opening a stretch of text: 三、 / （二） / 第五条 / 1. / 一是
_HEADING_MARK = re.compile(
    r"(?:[一二三四五六七八九十]{1,3}、|[（(][一二三四五六七八九十]{1,3}[)）]|第[一二三四五六七八九十百]{1,4}[章节])"
)
# Nouns a section title ends with, so a title glued to its first sentence can be cut after them.
_TITLE_TAIL = (
    "方式|材料|条件|流程|程序|标准|对象|范围|时间|地点|要求|措施|内容|依据|期限|办法|事项|职责|说明|渠道|途径|"
    "原则|目标|任务|保障|待遇|责任|监督|管理|服务|政策|申请|办理|受理|审核|发放|补贴|补助|咨询|附则|总则|"
    "时限|地址|电话|费用"
)
# At most six characters before the tail noun: "（三）具有从事五年以上应聘职位要求…" is a list item, not a title.
_GLUED_TITLE = re.compile(rf"^(?:{_HEADING_MARK.pattern})[^，。；：:、\s]{{0,6}}?(?:{_TITLE_TAIL})(?=[^，。；：:、\s])")
# An unnumbered title alone on its line: "所需材料", "办理流程", "咨询电话".
_BARE_TITLE = re.compile(rf"^[^，。；：:、！？!?,\s]{{0,10}}(?:{_TITLE_TAIL})$")
_SPACED_TITLE = re.compile(rf"^(?:{_HEADING_MARK.pattern})[^。；：:！？\s]{{1,30}}?[ \u3000]+(?=\S)")
# A document's own title on its line ("历城区居住证办理指南", "…关于印发…的通知"): a heading, not an answer.
_DOC_TITLE = re.compile(
    r"^[^，。；：:、！？!?,\s]{2,60}(?:通知|办法|指南|条例|规定|意见|方案|细则|公告|通告|决定)(?:[（(][^）)]{1,12}[）)])?$"
)
LIST_ITEM = re.compile(r"^(?:[（(][一二三四五六七八九十\d]{1,3}[)）]|\d{1,2}[.．、]|[①-⑳]|[一二三四五六七八九十]是)")
_LEAD_IN_END = "：:"
COVER_NOTE = re.compile(
    r"现(将|予)?印发给你们|请认真(贯彻|遵照)?(执行|落实|贯彻落实)|特此(通知|公告)|现就.{0,20}(通知|公告)如下"
)


@dataclass(frozen=True)
class Unit:
    """A candidate: `text` as quoted; (start, end) its span in the passage; `lead_in` the list's
    opening sentence it was prefixed with; `heading` true for a cut-off section title."""

    start: int
    end: int
    text: str
    heading: bool = False
    lead_in: bool = False  # a list's lead-in with its items
    item: bool = False  # a list item prefixed with its lead-in
    position: int = 0  # index among the passage's units


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of sentences in `text`, end punctuation included; a section title at a
    sentence's start is its own span."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if text[start : m.start()].strip():
            spans += _cut_title(text, *_strip_span(text, start, end))
        start = end
    if text[start:].strip():
        spans += _cut_title(text, *_strip_span(text, start, len(text)))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\r\n\u3000":
        start += 1
    while end > start and text[end - 1] in " \t\r\n\u3000":
        end -= 1
    return start, end


def _cut_title(text: str, start: int, end: int) -> list[tuple[int, int]]:
    piece = text[start:end]
    m = _SPACED_TITLE.match(piece) or _GLUED_TITLE.match(piece)
    if not m or m.end() >= len(piece) - 1:
        return [(start, end)]
    cut = start + m.end()
    head = _strip_span(text, start, cut)
    return [head, _strip_span(text, cut, end)]


def is_heading(sentence: str) -> bool:
    s = sentence.strip()
    if not s or len(s) > 40 or s[-1] in "。；;！？!?":
        return False
    h = heading_of(s)
    return (h is not None and h[2]) or bool(_HEADING_MARK.match(s) and len(s) <= 30) or bool(_BARE_TITLE.match(s))


def units(passage_text: str, max_chars: int = 240) -> list[Unit]:
    """The passage's candidate units in reading order (headings included, flagged)."""
    spans = split_sentences(passage_text)
    out: list[Unit] = []
    lead: tuple[int, int] | None = None
    items: list[tuple[int, int]] = []
    # Items right under a title ("所需材料\n（一）…；（二）…"): the list is one unit too, the title not glued.
    titled: list[tuple[int, int]] | None = None

    def whole(s: int, e: int) -> None:
        text = passage_text[s:e].replace("\n", "")
        if len(text) > max_chars:
            text = text[:max_chars] + "…"
        out.append(Unit(s, e, text, lead_in=True))

    def close_list() -> None:
        nonlocal titled
        if lead is not None and items:
            whole(lead[0], items[-1][1])
        if titled is not None and len(titled) >= 2:
            whole(titled[0][0], titled[-1][1])
        titled = None

    for s, e in spans:
        sent = passage_text[s:e]
        whole_line = (s == 0 or passage_text[s - 1] == "\n") and (e == len(passage_text) or passage_text[e] == "\n")
        if whole_line and _DOC_TITLE.match(sent):
            close_list()
            lead, items, titled = None, [], None
            out.append(Unit(s, e, sent, heading=True))
            continue
        if titled is not None and lead is None and LIST_ITEM.match(sent):
            titled.append((s, e))
            out.append(Unit(s, e, sent))
            continue
        if is_heading(sent):
            close_list()
            lead, items, titled = None, [], []
            out.append(Unit(s, e, sent, heading=True))
            continue
        if sent.rstrip()[-1:] in _LEAD_IN_END:
            close_list()
            lead, items = (s, e), []
            out.append(Unit(s, e, sent))
            continue
        if lead is not None and LIST_ITEM.match(sent):
            items.append((s, e))
            prefix = passage_text[lead[0] : lead[1]]
            out.append(Unit(s, e, prefix + sent, item=True))
            continue
        close_list()
        lead, items = None, []
        out.append(Unit(s, e, sent))
    close_list()
    return [
        Unit(u.start, u.end, u.text, u.heading, u.lead_in, u.item, i)
        for i, u in enumerate(sorted(out, key=lambda u: (u.start, -u.end)))
    ]


def sentence_heading_path(passage: Passage, offset: int) -> tuple[str, ...]:
    """Heading path at `offset` in the passage: its own path plus headings opened inside it before."""
    stack: list[tuple[int, str]] = []
    for label in passage.heading_path:
        h = heading_of(label)
        stack.append((h[0] if h else -1, label))
    pos = 0
    for line in passage.text.split("\n"):
        if pos > offset:
            break
        h = heading_of(line)
        if h is not None:
            level, label, _ = h
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, label))
        pos += len(line) + 1
    return tuple(label for _, label in stack)


def preceding_heading(units_: Sequence[Unit], position: int) -> str:
    """The nearest cut-off section title before the unit at `position` ('' if none)."""
    for u in reversed(units_[:position]):
        if u.heading:
            return u.text
    return ""


_NOT_ALNUM = re.compile(r"[\W_]+")


def bigrams(text: str) -> frozenset[str]:
    """Character bigrams of the letters and digits (punctuation and spaces dropped)."""
    s = _NOT_ALNUM.sub("", text)
    return frozenset(s[i : i + 2] for i in range(len(s) - 1))


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float = 0.7) -> bool:
    """Overlap coefficient of character bigrams: a sentence quoted inside a longer one counts."""
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


def join_sentences(sentences: Sequence[str]) -> str:
    """Concatenate; a sentence cut without end punctuation (a heading, a list item) gets "；"."""
    out = ""
    for sent in sentences:
        if out and out[-1] not in "。！？!?；;…":
            out += "；"
        out += sent
    return out


def highlight(text: str, terms: Sequence[str]) -> tuple[tuple[tuple[int, int], ...], str]:
    """Char spans of `terms` in `text` (longest first, merged) and an escaped `<mark>` HTML."""
    lowered = text.lower()
    found: list[tuple[int, int]] = []  # every occurrence, then merged (no per-character loop)
    for term in sorted({t.lower() for t in terms if t.strip()}, key=len, reverse=True):
        if len(term) == 1 and not term.isalnum():
            continue
        pos = lowered.find(term)
        while pos != -1:
            found.append((pos, pos + len(term)))
            pos = lowered.find(term, pos + len(term))
    spans: list[tuple[int, int]] = []
    for s, e in sorted(found):
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    parts: list[str] = []
    prev = 0
    for s, e in spans:
        parts.append(html.escape(text[prev:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        prev = e
    parts.append(html.escape(text[prev:]))
    return tuple(spans), "".join(parts)
