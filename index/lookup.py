"""Precise lookup: a 文号 or a (partial) title goes straight to the document.

This runs ahead of ranking: agents and residents often type the number or the
title they read somewhere, and then only that document is the right answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from corpus.metadata import find_doc_numbers, normalize_doc_number
from corpus.models import Document

# Titles shorter than this are too generic ("通知") to be matched inside a query.
MIN_TITLE_CHARS = 6
# A query fragment must be at least this long to be matched inside titles.
MIN_FRAGMENT_CHARS = 5
MAX_TITLE_HITS = 20
_STRIP = re.compile(r"[\s《》〈〉“”\"'‘’「」『』]+")
_YEAR_SUFFIX = re.compile(r"[（(]\s*\d{4}[^）)]{0,8}[）)]$")


def normalize_title(title: str) -> str:
    t = _STRIP.sub("", title)
    return _YEAR_SUFFIX.sub("", t)


class DocLookup:
    def __init__(self) -> None:
        self._by_number: dict[str, set[str]] = defaultdict(set)
        self._titles: dict[str, str] = {}  # doc id -> normalised title
        self._number_of: dict[str, str] = {}  # doc id -> normalised 文号

    def add(self, docs: Iterable[Document]) -> None:
        for d in docs:
            self.remove([d.id])
            if d.doc_number:
                num = normalize_doc_number(d.doc_number)
                self._by_number[num].add(d.id)
                self._number_of[d.id] = num
            if d.title:
                self._titles[d.id] = normalize_title(d.title)

    def remove(self, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            self._titles.pop(doc_id, None)
            num = self._number_of.pop(doc_id, None)
            if num is not None:
                self._by_number[num].discard(doc_id)

    def by_number(self, query: str) -> list[str]:
        out: list[str] = []
        for num in find_doc_numbers(query):
            out.extend(sorted(self._by_number.get(num, ())))
        return list(dict.fromkeys(out))

    def by_title(self, query: str) -> list[str]:
        """Docs whose whole title is written in the query, else whose title contains the query.

        Longest titles first: 《山东省流动人口服务管理办法》 beats a shorter title inside it.
        """
        q = normalize_title(query)
        if not q:
            return []
        inside = [(len(t), i) for i, t in self._titles.items() if len(t) >= MIN_TITLE_CHARS and t in q]
        if inside:
            inside.sort(key=lambda x: (-x[0], x[1]))
            best = inside[0][0]
            return [i for n, i in inside if n == best][:MAX_TITLE_HITS]
        if len(q) >= MIN_FRAGMENT_CHARS:
            hits = sorted(i for i, t in self._titles.items() if q in t)
            if hits and len(hits) <= MAX_TITLE_HITS:
                return hits
        return []

    def find(self, query: str) -> list[str]:
        """文号 matches first, then title matches."""
        return self.by_number(query) or self.by_title(query)
