"""Extractive answers: pick the one to three sentences that answer a question, cite each.

Stages: retrieve passages -> split them into sentences -> score sentences by
IDF-weighted overlap with the question plus their passage's retrieval rank ->
keep the best one to three -> compute a confidence from retrieval signals ->
abstain below a threshold with the closest documents and the 12345 hotline.

Nothing here knows HTTP; the service maps these dataclasses to its responses.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import quote

from corpus.chunking import heading_of
from corpus.models import Document, Passage, Status
from index.types import Filters, Hit

logger = logging.getLogger(__name__)

NOT_FOUND_TEXT = "未找到相关政策"
DEFAULT_HOTLINE = "12345"
# Calibrated with `python -m eval answers --calibrate` on ncp-dev + resident-qa-dev + out-of-scope
# questions, hybrid retrieval with e5-small (BM25-only calibrates to 0.56 on the same sets).
DEFAULT_ABSTAIN_THRESHOLD = 0.60

# Question words and fillers: they say what kind of answer is wanted, not what it is about,
# so they neither count as covered nor as missing.
GENERIC_TERMS = frozenset(
    """什么 怎么 怎样 怎么样 如何 哪些 哪个 哪里 哪儿 多少 几 吗 呢 吧 啊 呀 请问 请 问 想 想问 我 我们 你 你们 您
    可以 能 能否 能不能 是否 是不是 需要 要 应该 应当 有没有 有 没有 是 的 了 在 和 与 及 或 对 给 把 被 为 为了
    相关 有关 关于 规定 政策 办法 情况 问题 一下 一些 哪 谁 何 何时 多久 多长时间 时候 现在 目前 还 也 都 就 又
    那 那么 这 这个 那个 它 该 其 此 上述 以上 之 等 方面 内容 具体 主要 一般 怎么办 为什么 咨询 了解 知道""".split()
)

_SENTENCE_END = re.compile(r"[。！？!?；;\n]+")
_MIN_SENTENCE_CHARS = 6


class VersionLookup(Protocol):
    """What the answer needs from the policy library: the in-force version of a document."""

    def current_version(self, doc_id: str) -> str | None: ...


class SearchIndex(Protocol):
    """The parts of `PolicyIndex` answering uses (a fake can stand in for tests)."""

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]: ...

    def lookup(self, query: str) -> list[Document]: ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def tokenize(self, text: str) -> list[str]: ...


@dataclass(frozen=True)
class Citation:
    doc_id: str
    passage_id: str
    title: str
    doc_number: str | None
    issuer: str | None
    publish_date: str | None
    status: Status
    heading_path: tuple[str, ...]
    link: str
    source_url: str | None = None

    @property
    def heading(self) -> str:
        return " ".join(self.heading_path)


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: Citation
    start: int  # offsets into the cited document's text
    end: int
    score: float


@dataclass(frozen=True)
class SupportingPassage:
    citation: Citation
    text: str
    score: float
    highlights: tuple[tuple[int, int], ...]  # char offsets into `text`
    highlighted_html: str  # `text` HTML-escaped with <mark> around the highlights


@dataclass(frozen=True)
class Suggestion:
    doc_id: str
    title: str
    doc_number: str | None
    status: Status
    link: str


@dataclass(frozen=True)
class StatusNotice:
    """Says that a cited document is no longer in force, and what replaced it if known."""

    doc_id: str
    status: Status
    message: str
    current_doc_id: str | None = None
    current_title: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    query: str  # what was retrieved with (the question, or its follow-up expansion)
    abstained: bool
    text: str
    sentences: tuple[AnswerSentence, ...]
    passages: tuple[SupportingPassage, ...]
    confidence: float
    notices: tuple[StatusNotice, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()
    hotline: str = DEFAULT_HOTLINE
    source: str = "extractive"
    signals: Mapping[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AnswerConfig:
    top_k: int = 10  # passages retrieved
    answer_passages: int = 5  # passages whose sentences compete for the answer
    max_sentences: int = 3
    threshold: float = DEFAULT_ABSTAIN_THRESHOLD
    follow_ratio: float = 0.7  # extra sentences must score at least this share of the best
    max_sentence_chars: int = 240
    hotline: str = DEFAULT_HOTLINE
    # With an embedding model, the top passage's cosine joins the confidence as
    # dense_weight * clip((cos - dense_floor) / dense_span, 0, 1): words shared with the corpus
    # alone cannot tell "asks about something we have" from "asks about something near it".
    # Floor and span fit e5-small's cosine range; another model needs its own.
    dense_weight: float = 0.3
    dense_floor: float = 0.80
    dense_span: float = 0.12

    def __post_init__(self) -> None:
        if not 1 <= self.top_k <= 100:
            raise ValueError(f"top_k must be 1..100, got {self.top_k}")
        if not 1 <= self.max_sentences <= 3:
            raise ValueError(f"max_sentences must be 1..3, got {self.max_sentences}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 1 <= self.answer_passages <= self.top_k:
            raise ValueError(f"answer_passages must be 1..top_k ({self.top_k}), got {self.answer_passages}")


def document_link(doc_id: str) -> str:
    return f"/api/documents/{quote(doc_id, safe='/')}"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of sentences in `text`, end punctuation included."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end()
        if text[start : m.start()].strip():
            spans.append(_strip_span(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_strip_span(text, start, len(text)))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def highlight(text: str, terms: Sequence[str]) -> tuple[tuple[tuple[int, int], ...], str]:
    """Char spans of `terms` in `text` (longest first, merged) and an escaped `<mark>` HTML."""
    lowered = text.lower()
    marked = [False] * len(text)
    for term in sorted({t.lower() for t in terms if t.strip()}, key=len, reverse=True):
        if len(term) == 1 and not term.isalnum():
            continue
        pos = lowered.find(term)
        while pos != -1:
            for i in range(pos, pos + len(term)):
                marked[i] = True
            pos = lowered.find(term, pos + len(term))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        if marked[i]:
            j = i
            while j < len(text) and marked[j]:
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    parts: list[str] = []
    prev = 0
    for s, e in spans:
        parts.append(html.escape(text[prev:s]))
        parts.append(f"<mark>{html.escape(text[s:e])}</mark>")
        prev = e
    parts.append(html.escape(text[prev:]))
    return tuple(spans), "".join(parts)


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


def join_sentences(sentences: Sequence[str]) -> str:
    """Concatenate; a sentence cut without end punctuation (a heading, a list item) gets "；"."""
    out = ""
    for sent in sentences:
        if out and out[-1] not in "。！？!?；;…":
            out += "；"
        out += sent
    return out


def _default_weights(tokens: Sequence[str]) -> list[float]:
    # Without corpus statistics, longer words are the more specific ones.
    return [1.0 if len(t) >= 2 else 0.4 for t in tokens]


class Answerer:
    """Builds cited extractive answers over an index.

    `term_weights` maps query tokens to IDF-like weights (the index's BM25 IDF);
    `versions` tells which version of a superseded document is current.
    """

    def __init__(
        self,
        index: SearchIndex,
        config: AnswerConfig | None = None,
        versions: VersionLookup | None = None,
        term_weights: Callable[[Sequence[str]], Sequence[float]] | None = None,
    ) -> None:
        self.index = index
        self.config = config or AnswerConfig()
        self.versions = versions
        self.term_weights = term_weights or _default_weights

    # -- public -----------------------------------------------------------
    def answer(self, question: str, query: str | None = None, filters: Filters | None = None) -> Answer:
        """Answer `question`, retrieving with `query` (a follow-up's expansion) if given.

        Raises ValueError for an empty question (the index validates length).
        """
        if not question or not question.strip():
            raise ValueError("question must be a non-empty string")
        query = (query or question).strip()
        hits = self.retrieve(query, filters)
        terms = self._query_terms(query)
        if not hits or not terms:
            return self._abstain(question, query, hits, {"hits": float(len(hits)), "terms": float(len(terms))})
        sentences = self._pick_sentences(hits, terms)
        confidence, signals = self._confidence(hits, terms, sentences)
        if confidence < self.config.threshold or not sentences:
            return self._abstain(question, query, hits, signals, confidence)
        passages = tuple(self._supporting(h, terms) for h in hits)
        notices = self.notices([s.citation for s in sentences])
        text = join_sentences([s.text for s in sentences])
        if notices:
            text += "（" + "；".join(n.message for n in notices) + "）"
        return Answer(
            question=question,
            query=query,
            abstained=False,
            text=text,
            sentences=tuple(sentences),
            passages=passages,
            confidence=confidence,
            notices=notices,
            hotline=self.config.hotline,
            signals=signals,
        )

    def retrieve(self, query: str, filters: Filters | None = None) -> list[Hit]:
        # The index already puts passages of a document named by 文号 or title first.
        return self.index.search(query, top_k=self.config.top_k, filters=filters)

    def citation(self, passage: Passage) -> Citation:
        doc = self.index.get_document(passage.doc_id)
        return Citation(
            doc_id=passage.doc_id,
            passage_id=passage.id,
            title=(doc.title if doc else passage.title) or passage.title,
            doc_number=doc.doc_number if doc else None,
            issuer=doc.issuer if doc else None,
            publish_date=doc.publish_date if doc else None,
            status=doc.status if doc else Status.UNKNOWN,
            heading_path=passage.heading_path,
            link=document_link(passage.doc_id),
            source_url=doc.url if doc else None,
        )

    # -- scoring ----------------------------------------------------------
    def _query_terms(self, query: str) -> dict[str, float]:
        tokens = [t for t in dict.fromkeys(self.index.tokenize(query)) if t not in GENERIC_TERMS]
        if not tokens:
            return {}
        weights = self.term_weights(tokens)
        return {t: max(float(w), 0.0) for t, w in zip(tokens, weights, strict=True)}

    @staticmethod
    def _coverage(terms: Mapping[str, float], text: str) -> tuple[float, float]:
        """(share of the query's term weight found in `text`, absolute weight found)."""
        low = text.lower()
        total = sum(terms.values()) or 1.0
        found = sum(w for t, w in terms.items() if t in low)
        return found / total, found

    def _pick_sentences(self, hits: Sequence[Hit], terms: Mapping[str, float]) -> list[AnswerSentence]:
        top = hits[0].score or 1.0
        candidates: list[tuple[float, int, AnswerSentence]] = []
        seen_text: set[str] = set()
        for rank, hit in enumerate(hits[: self.config.answer_passages]):
            p = hit.passage
            cite = self.citation(p)
            context_cov, _ = self._coverage(terms, " ".join((p.title, *p.heading_path)))
            rel = max(hit.score / top, 0.0) if top > 0 else 1.0 / (rank + 1)
            in_force = 1.0 if cite.status.in_force else 0.85
            for s, e in split_sentences(p.text):
                sent = p.text[s:e]
                if len(sent) < _MIN_SENTENCE_CHARS or sent in seen_text:
                    continue
                seen_text.add(sent)
                path = sentence_heading_path(p, s)
                sent_cite = cite if path == cite.heading_path else replace(cite, heading_path=path)
                cov, _ = self._coverage(terms, sent)
                # The sentence must carry the answer; its passage's rank and heading add context.
                score = (0.6 * cov + 0.1 * context_cov + 0.3 * rel) * in_force
                if len(sent) > self.config.max_sentence_chars:
                    score *= 0.9
                    sent = sent[: self.config.max_sentence_chars] + "…"
                candidates.append(
                    (score, rank, AnswerSentence(sent, sent_cite, p.start + s, p.start + e, round(score, 4)))
                )
        if not candidates:
            return []
        candidates.sort(key=lambda c: (-c[0], c[1]))
        best = candidates[0][0]
        picked = [candidates[0][2]]
        for score, _, sent in candidates[1:]:
            if len(picked) >= self.config.max_sentences or score < best * self.config.follow_ratio:
                break
            picked.append(sent)
        return picked

    def _confidence(
        self, hits: Sequence[Hit], terms: Mapping[str, float], sentences: Sequence[AnswerSentence]
    ) -> tuple[float, dict[str, float]]:
        top = hits[0].passage
        cov_top, mass = self._coverage(terms, top.index_text())
        answer_ctx = " ".join(s.text + " " + s.citation.title for s in sentences)
        cov_ans, _ = self._coverage(terms, answer_ctx)
        low = top.index_text().lower()
        missing = [w for t, w in terms.items() if t not in low]
        missing_max = max(missing, default=0.0) / (max(terms.values()) or 1.0)
        # Saturating: a question matched on one common word is weak evidence however well covered.
        # Weights fitted by a grid search on ncp-dev + resident-qa-dev + eval/data/out_of_scope.jsonl
        # (BM25 signals only); the service's threshold is calibrated on the same sets.
        # Mass is counted in units of the largest possible IDF, ln(1 + passages), so the same
        # threshold holds for a 20-document demo and an 86k-passage law corpus.
        specificity = 1.0 - math.exp(-mass / self._idf_scale())
        conf = 0.3 * cov_top + 0.1 * (1.0 - missing_max) + 0.6 * specificity
        signals = {
            "missing_max": round(missing_max, 4),
            "total_weight": round(sum(terms.values()), 4),
            "coverage_top": round(cov_top, 4),
            "coverage_answer": round(cov_ans, 4),
            "matched_weight": round(mass, 4),
            "specificity": round(specificity, 4),
            "top_score": round(float(hits[0].score), 4),
        }
        dense = hits[0].scores.get("dense") if hits[0].scores else None
        if dense is not None:
            signals["dense"] = round(float(dense), 4)
            cfg = self.config
            closeness = min(max((float(dense) - cfg.dense_floor) / cfg.dense_span, 0.0), 1.0)
            conf = (1.0 - cfg.dense_weight) * conf + cfg.dense_weight * closeness
        return round(min(max(conf, 0.0), 1.0), 4), signals

    def _idf_scale(self) -> float:
        if self.term_weights is _default_weights:
            return 3.0  # length-based weights are ~1 per word
        try:
            n = len(self.index)  # type: ignore[arg-type]
        except TypeError:
            return 10.0
        return max(math.log1p(n), 1.0)

    # -- assembly ---------------------------------------------------------
    def _supporting(self, hit: Hit, terms: Mapping[str, float]) -> SupportingPassage:
        spans, marked = highlight(hit.passage.text, list(terms))
        return SupportingPassage(
            citation=self.citation(hit.passage),
            text=hit.passage.text,
            score=round(float(hit.score), 6),
            highlights=spans,
            highlighted_html=marked,
        )

    def notices(self, citations: Sequence[Citation]) -> tuple[StatusNotice, ...]:
        out: list[StatusNotice] = []
        seen: set[str] = set()
        for c in citations:
            if c.doc_id in seen or c.status.in_force:
                continue
            seen.add(c.doc_id)
            current_id = self.versions.current_version(c.doc_id) if self.versions else None
            current = self.index.get_document(current_id) if current_id and current_id != c.doc_id else None
            if current is not None:
                msg = f"《{c.title}》已被《{current.title}》替代，请以现行版本为准"
            elif c.status is Status.SUPERSEDED:
                msg = f"《{c.title}》已被新版本替代，请以现行版本为准"
            else:
                msg = f"《{c.title}》已失效，仅供参考"
            out.append(
                StatusNotice(
                    c.doc_id, c.status, msg, current.id if current else None, current.title if current else None
                )
            )
        return tuple(out)

    def _abstain(
        self,
        question: str,
        query: str,
        hits: Sequence[Hit],
        signals: Mapping[str, float],
        confidence: float = 0.0,
    ) -> Answer:
        suggestions: list[Suggestion] = []
        seen: set[str] = set()
        for h in hits:
            if h.doc_id in seen:
                continue
            seen.add(h.doc_id)
            c = self.citation(h.passage)
            suggestions.append(Suggestion(c.doc_id, c.title, c.doc_number, c.status, c.link))
            if len(suggestions) == 3:
                break
        text = f"{NOT_FOUND_TEXT}。您可以查看下列相近文件，或拨打 {self.config.hotline} 政务服务便民热线咨询。"
        if not suggestions:
            text = f"{NOT_FOUND_TEXT}。建议拨打 {self.config.hotline} 政务服务便民热线咨询。"
        return Answer(
            question=question,
            query=query,
            abstained=True,
            text=text,
            sentences=(),
            passages=(),
            confidence=confidence,
            suggestions=tuple(suggestions),
            hotline=self.config.hotline,
            signals=dict(signals),
        )
