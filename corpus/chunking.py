"""Structure-aware chunking of Chinese policy text into passages.

The text is cut along the document's own hierarchy (第X编/章/节/条, 一、/（一）/1./（1）,
markdown headings), never mid-sentence, into passages of at most `max_chars`
characters. Each passage keeps its heading path and verbatim offsets into the text.

Steps:
1. paragraphs: lines, plus breaks inside one-line texts (NCP notices) before a heading
   marker or after a sentence end followed by spaces;
2. each paragraph may open a heading (level by marker kind) which updates a heading stack;
3. a heading's subtree (the heading and everything under it) that fits in `max_chars`
   is one piece; otherwise its lead text is packed sentence by sentence (over-long
   sentences cut at ，、 then hard-cut) and each child subtree is handled the same way;
4. small neighbouring pieces merge up to `max_chars` when they are siblings (same
   parent heading) or when the first is smaller than `min_chars` (a bare 第一章 总则).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.models import Document, Passage

__all__ = ["chunk_document", "heading_of", "MIN_MAX_CHARS"]

MIN_MAX_CHARS = 50

_CN = "一二三四五六七八九十百千零〇两"
# (level, pattern) — level orders the hierarchy; a heading pops every heading of equal or deeper level.
_HEADING_PATTERNS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (0, re.compile(rf"第[{_CN}\d]+编")),
    (1, re.compile(rf"第[{_CN}\d]+章")),
    (2, re.compile(rf"第[{_CN}\d]+节")),
    (3, re.compile(rf"第[{_CN}\d]+条(?:之[{_CN}]+)?")),
    (4, re.compile(rf"[{_CN}]+、")),
    (5, re.compile(rf"[（(][{_CN}]+[）)]")),
    (6, re.compile(r"\d{1,2}(?:[.．、](?!\d))")),
    (7, re.compile(r"[（(]\d{1,2}[）)]")),
)
_MD_HEADING = re.compile(r"(#{1,6})\s+")
_SENT_END = "。！？；!?;"
_SENTENCE_RE = re.compile(rf"[^{_SENT_END}\n]*(?:[{_SENT_END}]+[”’」』）)\"]*|$)")
_CLAUSE_RE = re.compile(r"[^，、,]*(?:[，、,]+|$)")
_WS = " \t\u3000\r\n\xa0"
# A paragraph break inside a line: spaces after a sentence end, or spaces before a heading marker.
_INLINE_BREAK = re.compile(
    rf"(?<=[{_SENT_END}：:])[ \t\u3000\xa0]+(?=\S)"
    rf"|[ \t\u3000\xa0]+(?=(?:第[{_CN}\d]+[编章节条]|[{_CN}]{{1,3}}、|[（(][{_CN}]{{1,3}}[）)]))"
)
_LABEL_END = re.compile(rf"[{_SENT_END}：:，,]|[ \t\u3000]")


@dataclass
class _Piece:
    start: int
    end: int
    path: tuple[str, ...]
    heading_only: bool  # a bare heading line with no body (第一章 总则)


def heading_of(paragraph: str) -> tuple[int, str, bool] | None:
    """(level, label, heading_only) if the paragraph opens a heading, else None.

    >>> heading_of("第十条 申请人应当提交下列材料：")
    (3, '第十条', False)
    >>> heading_of("一、总体要求")
    (4, '一、总体要求', True)
    """
    s = paragraph.strip(_WS)
    md_level = None
    m = _MD_HEADING.match(s)
    if m:
        md_level = len(m.group(1)) - 1
        s = s[m.end() :].strip(_WS)
    for level, pat in _HEADING_PATTERNS:
        m = pat.match(s)
        if not m:
            continue
        rest = s[m.end() :]
        if level == 6 and (not rest or rest[0] in "%％万元亿"):
            continue
        # 第X条 is labelled by its number alone; other headings by their short title.
        if level == 3:
            heading_only = not rest.strip(_WS)
            return level, m.group(0), heading_only
        if level in (0, 1, 2):
            label = re.sub(r"[ \t\u3000]+", " ", s).strip()
            if len(label) <= 40 and not any(c in label for c in _SENT_END):
                return level, label, True
            return level, _short_label(s), False
        heading_only = len(s) <= 40 and not any(c in s for c in _SENT_END)
        return level, (s if heading_only else _short_label(s)), heading_only
    if md_level is not None and s:
        return md_level, s[:40], len(s) <= 60
    return None


def _short_label(s: str, limit: int = 30) -> str:
    m = _LABEL_END.search(s, 2)
    label = s[: m.start()] if m else s
    return label[:limit].strip(_WS)


def _paragraphs(text: str, lo: int = 0, hi: int | None = None) -> list[tuple[int, int]]:
    """Spans of non-blank paragraphs of text[lo:hi], whitespace-trimmed."""
    spans: list[tuple[int, int]] = []
    pos = lo
    n = len(text) if hi is None else hi
    while pos < n:
        nl = text.find("\n", pos, n)
        line_end = n if nl < 0 else nl
        # Only long lines need inner splitting (one-line notices); short ones are paragraphs already.
        if line_end - pos > 80:
            cut = pos
            for m in _INLINE_BREAK.finditer(text, pos, line_end):
                _add_span(text, cut, m.start(), spans)
                cut = m.end()
            _add_span(text, cut, line_end, spans)
        else:
            _add_span(text, pos, line_end, spans)
        pos = line_end + 1
    return spans


def _add_span(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start] in _WS:
        start += 1
    while end > start and text[end - 1] in _WS:
        end -= 1
    if end > start:
        out.append((start, end))


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut [start, end) into spans ≤ max_chars at sentence ends, then clause marks, then hard."""
    out: list[tuple[int, int]] = []
    for unit_start, unit_end in _units(text, start, end, _SENTENCE_RE):
        if unit_end - unit_start <= max_chars:
            out.append((unit_start, unit_end))
            continue
        for c_start, c_end in _units(text, unit_start, unit_end, _CLAUSE_RE):
            while c_end - c_start > max_chars:  # no punctuation at all: hard cut
                out.append((c_start, c_start + max_chars))
                c_start += max_chars
            if c_end > c_start:
                out.append((c_start, c_end))
    return _pack(text, out, max_chars)


def _units(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        m = pattern.match(text, pos, end)
        stop = m.end() if m and m.end() > pos else end
        if stop == pos:
            stop = end
        # a newline inside a sentence is also a boundary
        nl = text.find("\n", pos, stop)
        if nl >= 0:
            stop = nl + 1
        _add_span(text, pos, stop, spans)
        pos = stop
    return spans


def _pack(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Greedily join consecutive spans while the joined span stays ≤ max_chars."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and e - out[-1][0] <= max_chars:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def chunk_document(doc: Document, max_chars: int = 300, min_chars: int = 40) -> list[Passage]:
    """Passages of `doc` of at most `max_chars` characters, cut along its headings and sentences.

    `doc.text[p.start:p.end] == p.text` for every passage. A merged passage takes the
    heading path of its first piece with body text.

    A document assembled from source rows (a law from its articles) lists them in
    `metadata["source_spans"]` (`{"id", "start", "end", "path"}`, in text order): each
    span is chunked on its own, so two rows never share a passage (a long one may still
    split), and its passages carry the row's id in `source_ids` and its path (chapter,
    第X条) in front of their heading path. Other documents' passages carry the document id.
    """
    if not isinstance(max_chars, int) or max_chars < MIN_MAX_CHARS:
        raise ValueError(f"max_chars must be an int >= {MIN_MAX_CHARS}, got {max_chars!r}")
    if not isinstance(min_chars, int) or not 0 <= min_chars < max_chars:
        raise ValueError(f"min_chars must be an int in 0..max_chars-1 ({max_chars - 1}), got {min_chars!r}")
    text = doc.text
    if not text or not text.strip():
        return []
    out: list[tuple[_Piece, tuple[str, ...]]] = []
    spans = source_spans(doc)
    if spans is None:
        out = [(p, (doc.id,)) for p in _pieces(text, 0, len(text), max_chars, min_chars)]
    else:
        for sid, s0, e0, base in spans:
            for p in _pieces(text, s0, e0, max_chars, min_chars):
                # the row's own path first; a heading the chunker found again inside it is not repeated
                p.path = (*base, *(h for h in p.path if h not in base))
                out.append((p, (sid,)))
    return [
        Passage(
            id=f"{doc.id}#{i}",
            doc_id=doc.id,
            position=i,
            text=text[p.start : p.end],
            start=p.start,
            end=p.end,
            title=doc.title,
            heading_path=p.path,
            source_ids=ids,
        )
        for i, (p, ids) in enumerate(out)
    ]


def source_spans(doc: Document) -> list[tuple[str, int, int, tuple[str, ...]]] | None:
    """The source rows a document was assembled from, checked: (id, start, end, path) in text order.

    None when the document is one source row (a policy); a malformed list raises ValueError
    naming the document, since silently chunking it whole would merge its rows.
    """
    raw = doc.metadata.get("source_spans")
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValueError(f"document {doc.id!r}: metadata source_spans must be a list, got {type(raw).__name__}")
    out: list[tuple[str, int, int, tuple[str, ...]]] = []
    last = 0
    for i, sp in enumerate(raw):
        ok = isinstance(sp, dict) and isinstance(sp.get("id"), str) and sp["id"]
        s0, e0 = (sp.get("start"), sp.get("end")) if isinstance(sp, dict) else (None, None)
        ok = ok and isinstance(s0, int) and isinstance(e0, int) and last <= s0 < e0 <= len(doc.text)
        path = sp.get("path", []) if isinstance(sp, dict) else None
        ok = ok and isinstance(path, list) and all(isinstance(h, str) for h in path)
        if not ok:
            raise ValueError(
                f"document {doc.id!r}: source_spans[{i}] must be {{id, start, end, path}} in text order "
                f"within the text ({len(doc.text)} chars), got {sp!r}"[:300]
            )
        out.append((sp["id"], s0, e0, tuple(path)))
        last = e0
    return out


def _pieces(text: str, lo: int, hi: int, max_chars: int, min_chars: int) -> list[_Piece]:
    """Steps 1-4 of the module doc over text[lo:hi]; offsets stay those of `text`."""
    # 1-2. paragraphs and the headings they open
    paras = _paragraphs(text, lo, hi)
    if not paras:
        return []
    heads: list[tuple[int, str, bool] | None] = []
    for ps, pe in paras:
        # Headings only sit at a paragraph's start; looking at the first 60 chars keeps this cheap.
        h = heading_of(text[ps : min(pe, ps + 60)])
        if h is not None and pe - ps > 60:
            h = (h[0], h[1], False)
        heads.append(h)
    # sub_end[i]: where the subtree opened by heading i ends (next heading of equal or higher rank)
    n = len(paras)
    sub_end = [n] * n
    stack: list[int] = []
    for i, h in enumerate(heads):
        if h is None:
            continue
        while stack and heads[stack[-1]][0] >= h[0]:  # type: ignore[index]
            sub_end[stack.pop()] = i
        stack.append(i)

    # 3. a subtree that fits is one piece; otherwise its lead text, then each child subtree
    pieces: list[_Piece] = []

    def emit_lead(lo: int, hi: int, path: tuple[str, ...], opens_heading: bool) -> None:
        if lo >= hi:
            return
        s0, e0 = paras[lo][0], paras[hi - 1][1]
        bare = opens_heading and hi - lo == 1 and bool(heads[lo] and heads[lo][2])  # type: ignore[index]
        if e0 - s0 <= max_chars:
            pieces.append(_Piece(s0, e0, path, bare))
            return
        spans: list[tuple[int, int]] = []
        for ps, pe in paras[lo:hi]:
            spans.extend([(ps, pe)] if pe - ps <= max_chars else _split_long(text, ps, pe, max_chars))
        for s, e in _pack(text, spans, max_chars):
            pieces.append(_Piece(s, e, path, False))

    def emit(lo: int, hi: int, path: tuple[str, ...], opens_heading: bool) -> None:
        if paras[hi - 1][1] - paras[lo][0] <= max_chars:
            bare = opens_heading and hi - lo == 1 and bool(heads[lo] and heads[lo][2])  # type: ignore[index]
            pieces.append(_Piece(paras[lo][0], paras[hi - 1][1], path, bare))
            return
        k = lo + 1 if opens_heading else lo
        while k < hi and heads[k] is None:
            k += 1
        emit_lead(lo, k, path, opens_heading)
        while k < hi:
            e = min(sub_end[k], hi)
            emit(k, e, (*path, heads[k][1]), True)  # type: ignore[index]
            k = e

    emit(0, n, (), False)

    # 4. merge small siblings
    merged: list[_Piece] = []
    for p in pieces:
        if merged:
            cur = merged[-1]
            fits = p.end - cur.start <= max_chars
            siblings = cur.path[:-1] == p.path[:-1] and len(cur.path) == len(p.path)
            child = p.path[: len(cur.path)] == cur.path
            small = (cur.end - cur.start) < min_chars or (p.end - p.start) < min_chars
            # a bare heading starts a new passage unless it follows another bare heading (编 + 章)
            if p.heading_only and not cur.heading_only:
                fits = False
            if fits and (cur.heading_only or siblings or small or child):
                # a bare heading or a tiny preamble (the title line) takes the path of the body after it
                if cur.heading_only or (not cur.path and cur.end - cur.start < min_chars):
                    cur.path = p.path
                    cur.heading_only = p.heading_only
                cur.end = p.end
                continue
        merged.append(_Piece(p.start, p.end, p.path, p.heading_only))
    return merged
