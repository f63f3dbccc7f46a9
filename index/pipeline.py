"""The Q&A pipeline: follow-up resolution -> FAQ -> retrieval -> answer selection -> abstention ->
optional generator. One function builds it (`build_pipeline`); `/api/ask`, its SSE twin and
`python -m eval answers` all run `QAPipeline.ask`, so the figures describe what residents get.

No HTTP, no stores: the caller hands in the conversation's history and gets an `Answer` back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from index import constraints
from index.abstention import ABSTENTION_RESOURCE
from index.answer import Answer, AnswerConfig, Answerer, AnswerSentence, Citation, StatusNotice, VersionLookup
from index.answer_model import RANKER_RESOURCE, LogisticModel, load_model
from index.faq import FaqItem, FaqMatch, FaqMatcher
from index.followup import Turn, resolve_follow_up
from index.types import Filters

logger = logging.getLogger(__name__)

# A generator rewrites an extractive answer (bounded by its own deadline); None keeps it extractive.
Rephrase = Callable[[Answer], Answer]


@dataclass(frozen=True)
class QAPipeline:
    index: Any  # PolicyIndex, or a stand-in with search / get_document / passages_of / tokenize
    answerer: Answerer
    faq: FaqMatcher

    def resolve(self, question: str, history: Sequence[Turn] = ()) -> str:
        """The query retrieved with: the question, or its expansion with the previous turn's topic."""
        return resolve_follow_up(question, history, self.index.tokenize)

    def ask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        filters: Filters | None = None,
        rephrase: Rephrase | None = None,
    ) -> Answer:
        """Answer `question` in the conversation `history`. ValueError for an empty question."""
        if not question or not question.strip():
            raise ValueError("question must be a non-empty string")
        query = self.resolve(question, history)
        # A filtered question asks within a subset the approved answers were not written for.
        match = self.faq.match(question) if filters is None else None
        if match is None and query != question and filters is None:
            match = self.faq.match(query)
        if match is not None:
            return self.faq_answer(question, query, match)
        answer = self.answerer.answer(question, query=query, filters=filters)
        answer = self.flag_unmet(answer)
        if rephrase is not None and not answer.abstained:
            answer = rephrase(answer)
        return answer

    def faq_answer(self, question: str, query: str, match: FaqMatch) -> Answer:
        """The approved answer, cited to its source document's best-matching passage."""
        sentences: tuple[AnswerSentence, ...] = ()
        doc = self.index.get_document(match.item.doc_id) if match.item.doc_id else None
        if doc is not None:
            hits = self.index.search(query, top_k=1, filters=Filters(doc_ids=frozenset({doc.id})))
            passages = [h.passage for h in hits] or self.index.passages_of(doc.id)[:1]
            if passages:
                cite = self.answerer.citation(passages[0])
            else:
                cite = Citation(
                    doc.id, "", doc.title, doc.doc_number, doc.issuer, doc.publish_date, doc.status, (), doc.url
                )
            sentences = (AnswerSentence(match.item.answer, cite, -1, -1, match.score),)
        return Answer(
            question=question,
            query=query,
            abstained=False,
            text=match.item.answer,
            sentences=sentences,
            passages=(),
            confidence=match.score,
            notices=self.answerer.notices([s.citation for s in sentences]),
            hotline=self.answerer.config.hotline,
            source="faq",
            signals={"faq_score": match.score, "faq_id": float(match.item.id)},
        )

    def flag_unmet(self, answer: Answer) -> Answer:
        """Say so when the first cited document contradicts the place, year or 文号 asked about: the
        answerer drops such documents while any other is retrieved, so then none fits."""
        if answer.abstained or not answer.sentences or not self.answerer.constrain:
            return answer
        asked = constraints.parse_asked(answer.question, answer.query)
        first = answer.sentences[0].citation
        seen = " ".join(p.text for p in answer.passages if p.citation.doc_id == first.doc_id)
        doc = self.index.get_document(first.doc_id)
        if not asked or constraints.verdict(asked, doc, seen) is not constraints.Verdict.CONFLICTS:
            return answer
        msg = constraints.unmet_message(asked)
        return replace(
            answer,
            text=f"{msg}。{answer.text}",
            notices=(StatusNotice(first.doc_id, first.status, msg), *answer.notices),
            signals={**answer.signals, "constraint_unmet": 1.0},
        )

    def with_faq(self, items: Iterable[FaqItem]) -> QAPipeline:
        return replace(self, faq=FaqMatcher(items, self.index.tokenize, self.faq.threshold))


def term_weights_of(index: Any) -> Callable[[Sequence[str]], Sequence[float]] | None:
    """BM25 IDF of query tokens, when the index exposes it (fakes in tests may not)."""
    fn = getattr(index, "idf", None)
    return fn if callable(fn) else None


def _fits(model: LogisticModel | None, index: Any) -> LogisticModel | None:
    """The model if it was trained with this index's encoder (its features include the encoder's
    cosines); else None, and the rules answer."""
    if model is None:
        return None
    encoder = getattr(getattr(index, "encoder", None), "name", None)
    if model.meta.get("encoder") != encoder:
        logger.info(
            "answer model trained with encoder %s, index has %s: using rules", model.meta.get("encoder"), encoder
        )
        return None
    return model


def build_pipeline(
    index: Any,
    config: AnswerConfig | None = None,
    faq_items: Iterable[FaqItem] = (),
    faq_threshold: float = 0.72,
    versions: VersionLookup | None = None,
    learned: bool = True,
    ranker: LogisticModel | None = None,
    support: LogisticModel | None = None,
    constrain: bool = True,
) -> QAPipeline:
    """The one way to assemble the pipeline. `learned` loads the shipped sentence ranker and
    abstention model (index/resources/answer_ranker.json, abstention.json) unless `ranker` /
    `support` are given. `constrain` drops documents contradicting the question's place, year or
    文号 while others fit, and says when the answer's does (index.constraints)."""
    if learned:
        ranker = ranker or _fits(load_model(None, RANKER_RESOURCE), index)
        support = support or _fits(load_model(None, ABSTENTION_RESOURCE), index)
    answerer = Answerer(
        index,
        config or AnswerConfig(),
        versions=versions,
        term_weights=term_weights_of(index),
        ranker=ranker,
        support=support,
        constrain=constrain,
    )
    return QAPipeline(index, answerer, FaqMatcher(faq_items, index.tokenize, faq_threshold))
