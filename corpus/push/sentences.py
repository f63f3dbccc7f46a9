"""Sentences of a policy text, for the push labeller: where one ends, with hard-wrapped lines joined.

Shared by the audience, group, evidence and expiry rules, which all judge a cue by the
sentence it stands in.
"""

from __future__ import annotations

import bisect
import functools
import re

_SENT_END = "。；;！？!?"
# A line that opens a chapter, article or numbered item starts a new sentence.
HEADING_RE = re.compile(
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
    if HEADING_RE.match(following):
        return False
    # a heading line (一、总则) has no comma; a wrapped numbered item (（2）进城务工人员…，…) does
    return not (HEADING_RE.match(line) and not re.search(r"[，,]", line))


def sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    ends = _sentence_ends(text)
    i = bisect.bisect_left(ends, start)
    j = bisect.bisect_left(ends, end)
    return (ends[i - 1] + 1 if i else 0), (ends[j] if j < len(ends) else len(text))


def sentence_at(text: str, start: int, end: int) -> str:
    a, b = sentence_span(text, start, end)
    return text[a:b]
