"""Extractive answers: pick the one to three sentences that answer a question, cite each.

Stages: retrieve passages -> candidate sentences (index.sentences) with cheap features ->
rank them (the learned ranker of index.answer_model, or the hand-weighted rule) and keep the best
one to three, near-duplicates said once (index.selection) -> the probability that the answer is
supported (the support model, or the rule confidence) -> abstain below the threshold with the
closest documents on the subject and the 12345 hotline.

Nothing here knows HTTP; the service maps these dataclasses to its responses and renders links.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from corpus.models import Document, Passage, Status
from index import abstention, constraints, selection
from index.abstention import DEFAULT_ABSTAIN_THRESHOLD, NOT_FOUND_TEXT
from index.answer_model import LogisticModel
from index.query_terms import GENERIC_TERMS
from index.sentences import highlight, join_sentences, sentence_heading_path, split_sentences
from index.types import Filters, Hit

__all__ = [
    "DEFAULT_ABSTAIN_THRESHOLD",
    "GENERIC_TERMS",
    "NOT_FOUND_TEXT",
    "Answer",
    "AnswerConfig",
    "AnswerSentence",
    "Answerer",
    "Citation",
    "StatusNotice",
    "Suggestion",
    "SupportingPassage",
    "document_link",
    "highlight",
    "join_sentences",
    "sentence_heading_path",
    "split_sentences",
]

logger = logging.getLogger(__name__)

DEFAULT_HOTLINE = "12345"


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
    source_url: str | None = None
    article: str | None = None  # 第X条 of a law or regulation, e.g. "第五十六条"
    source_ids: tuple[str, ...] = ()  # source rows cited (a law article's _id)

    @property
    def heading(self) -> str:
        return " ".join(self.heading_path)

    @property
    def cited_as(self) -> str:
        """《中华人民共和国民法典》第五十六条; just 《title》 outside articles."""
        return f"《{self.title}》{self.article or ''}"


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: Citation
    start: int  # offsets into the cited document's text
    end: int
    score: float
    also_cited: tuple[
        Citation, ...
    ] = ()  # near-duplicates of this sentence in other documents (a 解读, an old version)


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

    @property
    def hotline_href(self) -> str:
        """The hotline as a link a phone dials (tel:12345)."""
        return "tel:" + "".join(c for c in self.hotline if c.isdigit() or c == "+")


@dataclass(frozen=True)
class AnswerConfig:
    top_k: int = 10  # passages retrieved
    answer_passages: int = 5  # passages whose sentences compete for the answer
    max_sentences: int = 3
    # None: the support model's calibrated threshold, or DEFAULT_ABSTAIN_THRESHOLD for the rules.
    threshold: float | None = None
    follow_ratio: float = 0.7  # extra sentences must score at least this share of the best (rules)
    # With the learned ranker: its probabilities are spread out, so the share is lower (0: always up to
    # max_sentences). Chosen out of fold by `eval answers train`: hit@3 0.578 at 0.7, 0.676 at 0.
    ranker_follow_ratio: float = 0.0
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
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if not 1 <= self.answer_passages <= self.top_k:
            raise ValueError(f"answer_passages must be 1..top_k ({self.top_k}), got {self.answer_passages}")


def document_link(doc_id: str) -> str:
    """Where the service serves a document as JSON. Citations do not store it: the service renders it."""
    return f"/api/documents/{quote(doc_id, safe='/')}"


def _default_weights(tokens: Sequence[str]) -> list[float]:
    # Without corpus statistics, longer words are the more specific ones.
    return [1.0 if len(t) >= 2 else 0.4 for t in tokens]


class Answerer:
    """Builds cited extractive answers over an index.

    `term_weights` maps query tokens to IDF-like weights (the index's BM25 IDF); `versions` tells
    which version of a superseded document is current; `ranker` is the learned sentence ranker and
    `support` the abstention model (index.abstention; None: the hand-weighted rules).
    """

    def __init__(
        self,
        index: SearchIndex,
        config: AnswerConfig | None = None,
        versions: VersionLookup | None = None,
        term_weights: Callable[[Sequence[str]], Sequence[float]] | None = None,
        ranker: LogisticModel | None = None,
        support: LogisticModel | None = None,
        constrain: bool = True,
    ) -> None:
        self.index = index
        self.config = config or AnswerConfig()
        self.versions = versions
        self.term_weights = term_weights or _default_weights
        self.ranker = ranker
        self.support = support
        # False: answers from the hits as the index ranks them (`eval answers --no-constraints`: the before).
        self.constrain = constrain

    @property
    def calibrated_threshold(self) -> float:
        """The abstention model's threshold (chosen out of fold), or the rules' default."""
        return abstention.threshold_of(self.support)

    @property
    def threshold(self) -> float:
        return self.calibrated_threshold if self.config.threshold is None else self.config.threshold

    def follow_ratio(self, ranker: LogisticModel | None) -> float:
        return self.config.follow_ratio if ranker is None else self.config.ranker_follow_ratio

    # -- public -----------------------------------------------------------
    def answer(self, question: str, query: str | None = None, filters: Filters | None = None) -> Answer:
        """Answer `question`, retrieving with `query` (a follow-up's expansion) if given.

        Raises ValueError for an empty question (the index validates length).
        """
        if not question or not question.strip():
            raise ValueError("question must be a non-empty string")
        query = (query or question).strip()
        hits = self.retrieve(query, filters)
        hits = self.constrained(question, query, hits)
        terms = self.query_terms(query)
        if not hits or not terms:
            return self._abstain(question, query, hits, terms, {"hits": float(len(hits)), "terms": float(len(terms))})
        ranked = self.ranked_candidates(query, hits, terms)
        chosen = selection.pick(ranked, self.config.max_sentences, self.follow_ratio(self.ranker))
        sentences = [self._sentence(c, dups) for c, dups in chosen]
        confidence, signals = self.confidence(hits, terms, ranked, sentences, query)
        if abstention.abstains(confidence, self.threshold, bool(sentences)):
            return self._abstain(question, query, hits, terms, signals, confidence)
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

    def constrained(self, question: str, query: str, hits: list[Hit]) -> list[Hit]:
        """Without the passages of documents that contradict the place, year or 文号 the question
        names, while any other is left (index.constraints): the answer quotes a document that fits."""
        if not self.constrain:
            return hits
        asked = constraints.parse_asked(question, query)
        return constraints.prefer_satisfying(asked, hits, self.index.get_document).hits

    def ranked_candidates(
        self, query: str, hits: Sequence[Hit], terms: Mapping[str, float]
    ) -> list[selection.Candidate]:
        cands = selection.candidates(
            query, hits, terms, self.index.get_document, self.config.answer_passages, self.config.max_sentence_chars
        )
        return selection.score(cands, self.ranker)

    def citation(self, passage: Passage, heading_path: tuple[str, ...] | None = None) -> Citation:
        doc = self.index.get_document(passage.doc_id)
        return Citation(
            doc_id=passage.doc_id,
            passage_id=passage.id,
            title=(doc.title if doc else passage.title) or passage.title,
            doc_number=doc.doc_number if doc else None,
            issuer=doc.issuer if doc else None,
            publish_date=doc.publish_date if doc else None,
            status=doc.status if doc else Status.UNKNOWN,
            heading_path=passage.heading_path if heading_path is None else heading_path,
            source_url=doc.url if doc else None,
            article=passage.article,
            source_ids=passage.source_ids,
        )

    def query_terms(self, query: str) -> dict[str, float]:
        tokens = [t for t in dict.fromkeys(self.index.tokenize(query)) if t not in GENERIC_TERMS]
        if not tokens:
            return {}
        weights = self.term_weights(tokens)
        return {t: max(float(w), 0.0) for t, w in zip(tokens, weights, strict=True)}

    # -- scoring ----------------------------------------------------------
    def _sentence(self, c: selection.Candidate, dups: Sequence[selection.Candidate]) -> AnswerSentence:
        p = c.hit.passage
        cite = self.citation(p, selection.heading_path_of(c))
        also = tuple(dict.fromkeys(self.citation(d.hit.passage, selection.heading_path_of(d)) for d in dups))
        also = tuple(a for a in also if a.doc_id != cite.doc_id or a.passage_id != cite.passage_id)
        return AnswerSentence(c.unit.text, cite, p.start + c.unit.start, p.start + c.unit.end, round(c.score, 4), also)

    def confidence(
        self,
        hits: Sequence[Hit],
        terms: Mapping[str, float],
        ranked: Sequence[selection.Candidate],
        sentences: Sequence[AnswerSentence],
        query: str | None = None,
    ) -> tuple[float, dict[str, float]]:
        """(probability the answer is supported, the signals it was computed from): index.abstention."""
        key = (sentences[0].citation.passage_id, sentences[0].text) if sentences else None
        context = " ".join(s.text + " " + s.citation.title for s in sentences)
        named = abstention.named_documents(self.index, query)
        scale = abstention.idf_scale(self.index, self.term_weights is _default_weights)
        first = abstention.first_candidate(ranked, key)
        signals = abstention.support_signals(hits, terms, ranked, first, context, scale, self.config, named)
        return abstention.support_probability(signals, self.support), signals

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
        terms: Mapping[str, float],
        signals: Mapping[str, float],
        confidence: float = 0.0,
    ) -> Answer:
        suggestions = [
            Suggestion(c.doc_id, c.title, c.doc_number, c.status)
            for c in (self.citation(h.passage) for h in abstention.closest_documents(hits, terms))
        ]
        text = abstention.abstention_text(self.config.hotline, bool(suggestions))
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
