"""A plain in-memory library of documents that knows versions and interpretations.

Links are derived, never trusted blindly:
- versions: same explicit `version_group`; or near-identical titles (differing only
  by a year, (修订)/(2023年修正)/(试行), a trailing 文号, or the 关于印发《…》的通知 wrapper);
  or explicit `supersedes`; or a text that says it abolishes another document
  (《…》（济历城政办字〔2023〕8号）同时废止).
  Within a chain versions are ordered by effective/publish date, then source order;
  older versions still in force become SUPERSEDED and each points at its predecessor.
- interpretations (解读 / 答记者问 / 一图读懂, or explicit `interprets`) are linked to the
  policy they quote by 《title》 or 文号, both ways.

Links are recomputed from the raw documents on every change (add/replace/remove),
so they stay consistent; recomputation is linear in the number of documents.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from corpus.metadata import (
    find_doc_numbers,
    is_interpretation,
    normalize_doc_number,
    quoted_titles,
    strip_trailing_doc_number,
)
from corpus.models import Document, Status

__all__ = ["Library", "link_documents", "title_key", "inner_title"]

log = logging.getLogger(__name__)

# A title key shorter than this is too generic ("通知", "公告") to tie documents together.
MIN_KEY_CHARS = 6

_WRAPPER = re.compile(r"关于(?:印发|转发|发布)[《“]?(.+?)[》”]?的(?:通知|决定|公告)$")
_BRACKET_NOTE = re.compile(r"[（(【\[][^）)】\]]{0,20}[）)】\]]")
_YEAR = re.compile(r"(?:19|20)\d\d(?:年度|年)?")
_PUNCT = re.compile(r"[\s《》〈〉“”\"'‘’「」『』·:：,，、\-—–_]+")
_FILE_EXT = re.compile(r"\.(?:aspx?|s?html?|docx?|pdf|txt|jsp|php)$", re.I)
# drafts for comment are not versions in force
_DRAFT = re.compile(r"征求意见稿|草案|送审稿")
_ABOLISH = re.compile(r"同时废止|予以废止|停止执行|不再执行|同时失效")


def _abolish_sentences(text: str) -> list[str]:
    """Sentences saying another document is abolished (…《X》（文号）同时废止)."""
    out = []
    for m in _ABOLISH.finditer(text):
        start = max(text.rfind(c, 0, m.start()) for c in "。；\n") + 1
        out.append(text[max(start, m.start() - 300) : m.end()])
    return out


def inner_title(title: str) -> str:
    """The policy's own title inside a 关于印发《X》的通知 wrapper, else the title."""
    t = _PUNCT.sub("", _FILE_EXT.sub("", (title or "").strip()))
    m = _WRAPPER.search(t)
    return m.group(1) if m else t


def title_key(title: str) -> str:
    """A version-insensitive key: years, bracketed notes ((修订), (试行)) and trailing 文号 removed.

    >>> title_key("济南市历城区人民政府办公室关于印发历城区高校毕业生就业补贴实施办法（2025年修订）的通知")
    '历城区高校毕业生就业补贴实施办法'
    """
    t = strip_trailing_doc_number(inner_title(title))
    t = _BRACKET_NOTE.sub("", t)
    t = _YEAR.sub("", t)
    return _PUNCT.sub("", t)


def _is_interp(doc: Document) -> bool:
    return bool(doc.interprets or doc.doc_type == "解读" or doc.metadata.get("is_interpretation")) or (
        is_interpretation(doc.title)
    )


def _date(doc: Document) -> str:
    return doc.effective_date or doc.publish_date or ""


class Library:
    """Documents by id, with version chains and interpretation links kept consistent."""

    def __init__(self, docs: Iterable[Document] = ()) -> None:
        self._raw: dict[str, Document] = {}
        self._order: dict[str, int] = {}
        self._docs: dict[str, Document] = {}
        self._chain: dict[str, list[str]] = {}  # doc id -> its chain, oldest first (only chains of 2+)
        self._interpretations: dict[str, list[str]] = {}  # policy id -> interpretation ids
        self._interpreted: dict[str, str] = {}  # interpretation id -> policy id
        self._unlinked: list[str] = []
        self._counter = 0
        self.add(docs)

    # ------------------------------------------------------------ mutation

    def add(self, docs: Iterable[Document]) -> None:
        """Add documents (a document with an existing id replaces it) and relink."""
        changed = False
        for d in docs:
            if not isinstance(d, Document):
                raise TypeError(f"Library holds corpus.models.Document objects, got {type(d).__name__}")
            if d.id not in self._order:
                self._order[d.id] = self._counter
                self._counter += 1
            self._raw[d.id] = d
            changed = True
        if changed:
            self._relink()

    def replace(self, doc: Document) -> None:
        """Replace an existing document (same id) and relink."""
        if doc.id not in self._raw:
            raise KeyError(f"no document with id {doc.id!r} to replace; use add()")
        self.add([doc])

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Remove documents by id (unknown ids raise KeyError) and relink the rest."""
        ids = list(doc_ids)
        missing = [i for i in ids if i not in self._raw]
        if missing:
            raise KeyError(f"unknown document ids: {', '.join(map(repr, missing))}")
        for i in ids:
            del self._raw[i]
            del self._order[i]
        self._relink()

    def link(self, docs: Iterable[Document]) -> list[Document]:
        """Add docs and return them linked (status, supersedes, version_group, interprets set)."""
        docs = list(docs)
        self.add(docs)
        return [self._docs[d.id] for d in docs]

    # ------------------------------------------------------------ queries

    @property
    def documents(self) -> Mapping[str, Document]:
        return MappingProxyType(self._docs)

    def get(self, doc_id: str) -> Document | None:
        return self._docs.get(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self) -> Iterator[Document]:
        return iter(self._docs.values())

    def _require(self, doc_id: str) -> None:
        if doc_id not in self._docs:
            raise KeyError(f"unknown document id {doc_id!r}")

    def revisions(self, doc_id: str) -> list[Document]:
        """The whole version chain of doc_id, oldest first (just the document if it has no versions)."""
        self._require(doc_id)
        return [self._docs[i] for i in self._chain.get(doc_id, [doc_id])]

    def current_version(self, doc_id: str) -> Document | None:
        """The newest version still in force in doc_id's chain; None if every version expired."""
        chain = self.revisions(doc_id)
        in_force = [d for d in chain if d.status.in_force]
        return in_force[-1] if in_force else None

    def interpretations_of(self, doc_id: str) -> list[Document]:
        self._require(doc_id)
        return [self._docs[i] for i in self._interpretations.get(doc_id, [])]

    def interpreted_policy(self, doc_id: str) -> Document | None:
        self._require(doc_id)
        target = self._interpreted.get(doc_id)
        return self._docs[target] if target else None

    def unlinked_interpretations(self) -> list[Document]:
        """Interpretations whose policy is not in the library."""
        return [self._docs[i] for i in self._unlinked]

    # ------------------------------------------------------------ linking

    def _relink(self) -> None:
        raw = self._raw
        parent: dict[str, str] = {i: i for i in raw}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a: str, b: str) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        policies = [d for d in raw.values() if not _is_interp(d)]
        by_title_key: dict[str, list[str]] = defaultdict(list)
        by_key: dict[str, list[str]] = defaultdict(list)
        by_number: dict[str, list[str]] = defaultdict(list)
        by_inner: dict[str, list[str]] = defaultdict(list)
        for d in policies:
            if d.version_group:
                by_key["g:" + d.version_group].append(d.id)
            elif not d.metadata.get("title_from_text") and not _DRAFT.search(d.title):
                k = title_key(d.title)
                if len(k) >= MIN_KEY_CHARS:
                    by_key["t:" + k].append(d.id)
            if not d.metadata.get("title_from_text"):
                by_title_key[title_key(d.title)].append(d.id)
            if d.doc_number:
                by_number[normalize_doc_number(d.doc_number)].append(d.id)
            if not d.metadata.get("title_from_text"):
                by_inner[inner_title(d.title)].append(d.id)
        for ids in by_key.values():
            for other in ids[1:]:
                union(ids[0], other)

        # explicit and textual supersession; `newer_than` breaks date ties
        newer_than: set[tuple[str, str]] = set()
        for d in policies:
            olds: list[str] = []
            if d.supersedes and d.supersedes in raw:
                olds.append(d.supersedes)
            for sentence in _abolish_sentences(d.text[:1500] + "\n" + d.text[-3000:]):
                for num in find_doc_numbers(sentence):
                    olds.extend(i for i in by_number.get(num, ()) if i != d.id)
                for t in quoted_titles(sentence):
                    olds.extend(i for i in by_inner.get(inner_title(t), ()) if i != d.id)
            for old in dict.fromkeys(olds):
                if not _is_interp(raw[old]):
                    union(d.id, old)
                    newer_than.add((d.id, old))

        groups: dict[str, list[str]] = defaultdict(list)
        for d in policies:
            groups[find(d.id)].append(d.id)

        linked: dict[str, Document] = dict(raw)
        self._chain = {}
        for ids in groups.values():
            if len(ids) < 2:
                continue
            chain = self._order_chain(ids, newer_than)
            group_name = next((raw[i].version_group for i in reversed(chain) if raw[i].version_group), None)
            group_name = group_name or title_key(raw[chain[-1]].title) or chain[-1]
            in_force = [i for i in chain if raw[i].status.in_force]
            newest_in_force = in_force[-1] if in_force else None
            for pos, i in enumerate(chain):
                d = raw[i]
                status = d.status
                if d.status.in_force and i != newest_in_force:
                    status = Status.SUPERSEDED
                supersedes = d.supersedes if d.supersedes in raw else (chain[pos - 1] if pos else None)
                linked[i] = dataclasses.replace(d, status=status, supersedes=supersedes, version_group=group_name)
            for i in chain:
                self._chain[i] = chain

        # interpretations
        self._interpretations = {}
        self._interpreted = {}
        self._unlinked = []
        for d in raw.values():
            if not _is_interp(d):
                continue
            target = self._interpretation_target(d, by_inner, by_number, by_title_key)
            if target is None:
                self._unlinked.append(d.id)
                linked[d.id] = dataclasses.replace(linked[d.id], doc_type=d.doc_type or "解读")
                continue
            self._interpreted[d.id] = target
            self._interpretations.setdefault(target, []).append(d.id)
            linked[d.id] = dataclasses.replace(linked[d.id], interprets=target, doc_type=d.doc_type or "解读")
        for ids in self._interpretations.values():
            ids.sort(key=lambda i: (_date(raw[i]), self._order[i]))
        self._docs = linked
        if self._unlinked:
            log.info("%d interpretations quote no policy in the library", len(self._unlinked))

    def _order_chain(self, ids: list[str], newer_than: set[tuple[str, str]]) -> list[str]:
        raw = self._raw

        def key(i: str) -> tuple[str, str, int, int]:
            d = raw[i]
            # A year written in the title ((2025年修订), …条例2011) is more reliable than a crawled date.
            years = _YEAR.findall(d.title)
            year = re.sub(r"\D", "", years[-1]) if years else _date(d)[:4]
            # Law versions often keep the original 施行 date; their source order is then the only clue.
            line = d.metadata.get("source_line")
            return (year, _date(d), line if isinstance(line, int) else 0, self._order[i])

        chain = sorted(ids, key=key)
        # an explicit "X abolishes Y" wins over dates (a re-issued notice may reuse the old date)
        for _ in range(len(chain)):
            moved = False
            for new, old in newer_than:
                if new in chain and old in chain and chain.index(new) < chain.index(old):
                    chain.remove(old)
                    chain.insert(chain.index(new), old)
                    moved = True
            if not moved:
                break
        return chain

    def _interpretation_target(
        self,
        d: Document,
        by_inner: dict[str, list[str]],
        by_number: dict[str, list[str]],
        by_title_key: dict[str, list[str]],
    ) -> str | None:
        raw = self._raw
        if d.interprets:
            if d.interprets in raw and d.interprets != d.id:
                return d.interprets
            # `interprets` may hold a title instead of an id
            cands = by_inner.get(inner_title(d.interprets), [])
            if cands:
                return self._pick(cands, d)
        titles = quoted_titles(d.title)
        if d.metadata.get("interprets_title"):
            titles.append(d.metadata["interprets_title"])
        titles += quoted_titles(d.text[:800])
        for t in titles:
            inner = inner_title(t)
            if len(inner) < MIN_KEY_CHARS:
                continue
            cands = [i for i in by_inner.get(inner, []) if i != d.id]
            if not cands:
                # quoted without the issuer (《关于…的指导意见》) or with it while the title lacks it
                cands = [
                    i
                    for k, ids in by_inner.items()
                    if len(k) >= MIN_KEY_CHARS and (k.endswith(inner) or inner.endswith(k))
                    for i in ids
                    if i != d.id
                ]
            if not cands:
                key = title_key(t)
                cands = [i for i in by_title_key.get(key, []) if i != d.id] if len(key) >= MIN_KEY_CHARS else []
            if cands:
                return self._pick(cands, d)
        for num in find_doc_numbers(d.text[:800]):
            cands = [i for i in by_number.get(num, []) if i != d.id]
            if cands:
                return self._pick(cands, d)
        return None

    def _pick(self, cands: list[str], interp: Document) -> str:
        """Of several matching policies, the latest one published on or before the interpretation."""
        raw = self._raw

        def published(d: Document) -> str:
            return d.publish_date or d.effective_date or ""

        when = published(interp)
        ordered = sorted(dict.fromkeys(cands), key=lambda i: (published(raw[i]), self._order[i]))
        before = [i for i in ordered if not when or not published(raw[i]) or published(raw[i]) <= when]
        return (before or ordered)[-1]


def link_documents(docs: Iterable[Document]) -> list[Document]:
    """Link versions and interpretations among docs; returns them in input order."""
    return Library().link(docs)
