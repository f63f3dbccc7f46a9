"""Request and response models of the HTTP API, and their mapping from the answer dataclasses."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpus.models import Document
from index.answer import Answer, AnswerSentence, Citation, StatusNotice, Suggestion, SupportingPassage, document_link
from qa_service.errors import ApiError, ErrorCode
from qa_service.pages import reader_link

_STRICT = ConfigDict(extra="forbid")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Ids are corpus keys or, for documents loaded from a folder, relative paths (可含中文和 /).
DOC_ID = re.compile(r"^[^\x00-\x1f\x7f\ud800-\udfff]{1,300}$")


def check_text(
    value: str,
    *,
    max_chars: int,
    empty: ErrorCode = ErrorCode.QUERY_EMPTY,
    too_long: ErrorCode = ErrorCode.QUERY_TOO_LONG,
    what: str = "问题",
) -> str:
    """Strip and validate user text: no NUL/control characters, no lone surrogates, bounded length."""
    if _SURROGATE.search(value) or "\x00" in value:
        raise ApiError(ErrorCode.INVALID_TEXT, f"{what}包含无法识别的字符（如空字符或无效编码），请检查后重新输入。")
    # Other control characters (except newlines/tabs) are dropped rather than rejected.
    value = "".join(c for c in value if c in "\n\t" or unicodedata.category(c) != "Cc").strip()
    if not value:
        msg = "问题不能为空，请输入您要咨询的内容。" if what == "问题" else f"{what}不能为空。"
        raise ApiError(empty, msg)
    if len(value) > max_chars:
        raise ApiError(too_long, f"{what}过长（{len(value)} 字），请精简到 {max_chars} 字以内。")
    return value


# -- requests ---------------------------------------------------------------
class FilterIn(BaseModel):
    model_config = _STRICT
    status: list[str] | None = None
    issuer: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    region: str | None = None
    topic: str | None = None
    doc_type: str | None = None


class AskRequest(BaseModel):
    model_config = _STRICT
    question: str = Field(description="居民或坐席的问题，例如“如何申请居住证？”")
    conversation_id: str | None = Field(None, description="多轮对话编号；追问时带上上一轮返回的编号")
    filters: FilterIn | None = None


FEEDBACK_REASONS = {
    "not_answered": "没回答我的问题",
    "outdated": "内容过时",
    "wrong_citation": "引用错误",
    "other": "其他",
}


class FeedbackRequest(BaseModel):
    model_config = _STRICT
    answer_id: str
    useful: bool
    reason: Literal["not_answered", "outdated", "wrong_citation", "other"] | None = Field(
        None,
        description="没用的原因：not_answered 没回答我的问题、outdated 内容过时、wrong_citation 引用错误、other 其他",
    )
    comment: str | None = None


class FaqIn(BaseModel):
    model_config = _STRICT
    question: str
    answer: str
    doc_id: str | None = None


class IngestRequest(BaseModel):
    model_config = _STRICT
    documents: list[dict[str, Any]] = Field(description="Document 字段：id, title, text, doc_number, issuer, ...")


# -- responses ------------------------------------------------------------------
class CitationOut(BaseModel):
    doc_id: str
    passage_id: str
    title: str
    doc_number: str | None
    issuer: str | None
    publish_date: str | None
    status: str
    heading_path: list[str]
    heading: str
    link: str
    source_url: str | None = None
    reader_url: str = ""  # the reader page opened at this passage (qa_service.pages.reader_link)

    @classmethod
    def of(cls, c: Citation) -> CitationOut:
        return cls(
            doc_id=c.doc_id,
            passage_id=c.passage_id,
            title=c.title,
            doc_number=c.doc_number,
            issuer=c.issuer,
            publish_date=c.publish_date,
            status=c.status.value,
            heading_path=list(c.heading_path),
            heading=c.heading,
            link=document_link(c.doc_id),
            source_url=c.source_url,
            reader_url=reader_link(c.doc_id, c.passage_id or None),
        )


class SentenceOut(BaseModel):
    text: str
    start: int  # offsets into the cited document's text (-1 for an approved FAQ answer)
    end: int
    score: float
    citation: CitationOut
    also_cited: list[CitationOut] = []  # the same sentence in a 解读 or an earlier version

    @classmethod
    def of(cls, s: AnswerSentence) -> SentenceOut:
        return cls(
            text=s.text,
            start=s.start,
            end=s.end,
            score=s.score,
            citation=CitationOut.of(s.citation),
            also_cited=[CitationOut.of(c) for c in s.also_cited],
        )


class PassageOut(BaseModel):
    text: str
    score: float
    highlights: list[tuple[int, int]]
    html: str
    citation: CitationOut

    @classmethod
    def of(cls, p: SupportingPassage) -> PassageOut:
        return cls(
            text=p.text,
            score=p.score,
            highlights=list(p.highlights),
            html=p.highlighted_html,
            citation=CitationOut.of(p.citation),
        )


class SuggestionOut(BaseModel):
    doc_id: str
    title: str
    doc_number: str | None
    status: str
    link: str
    reader_url: str = ""

    @classmethod
    def of(cls, s: Suggestion) -> SuggestionOut:
        return cls(
            doc_id=s.doc_id,
            title=s.title,
            doc_number=s.doc_number,
            status=s.status.value,
            link=document_link(s.doc_id),
            reader_url=reader_link(s.doc_id),
        )


class NoticeOut(BaseModel):
    doc_id: str
    status: str
    message: str
    current_doc_id: str | None
    current_title: str | None

    @classmethod
    def of(cls, n: StatusNotice) -> NoticeOut:
        return cls(
            doc_id=n.doc_id,
            status=n.status.value,
            message=n.message,
            current_doc_id=n.current_doc_id,
            current_title=n.current_title,
        )


class AskResponse(BaseModel):
    answer_id: str
    conversation_id: str
    question: str
    resolved_question: str
    abstained: bool
    answer: str
    confidence: float
    source: Literal["extractive", "faq", "generated"]
    sentences: list[SentenceOut]
    passages: list[PassageOut]
    notices: list[NoticeOut]
    suggestions: list[SuggestionOut]
    hotline: str
    hotline_href: str = ""  # tel:12345, for a link a phone dials
    follow_ups: list[str] = []  # questions to offer next (qa_service.followups), resolved in this conversation

    @classmethod
    def of(cls, a: Answer, answer_id: str, conversation_id: str) -> AskResponse:
        return cls(
            answer_id=answer_id,
            conversation_id=conversation_id,
            question=a.question,
            resolved_question=a.query,
            abstained=a.abstained,
            answer=a.text,
            confidence=a.confidence,
            source=a.source,  # type: ignore[arg-type]
            sentences=[SentenceOut.of(s) for s in a.sentences],
            passages=[PassageOut.of(p) for p in a.passages],
            notices=[NoticeOut.of(n) for n in a.notices],
            suggestions=[SuggestionOut.of(s) for s in a.suggestions],
            hotline=a.hotline,
            hotline_href=a.hotline_href,
        )


class DocSummary(BaseModel):
    doc_id: str
    title: str
    doc_number: str | None
    issuer: str | None
    publish_date: str | None
    status: str
    doc_type: str | None
    link: str
    reader_url: str = ""

    @classmethod
    def of(cls, d: Document) -> DocSummary:
        return cls(
            doc_id=d.id,
            title=d.title,
            doc_number=d.doc_number,
            issuer=d.issuer,
            publish_date=d.publish_date,
            status=d.status.value,
            doc_type=d.doc_type,
            link=document_link(d.id),
            reader_url=reader_link(d.id),
        )


class SearchResult(DocSummary):
    score: float
    region: str | None
    passage_id: str | None
    heading_path: list[str]
    snippet: str
    html: str
    highlights: list[tuple[int, int]]


class SearchResponse(BaseModel):
    query: str
    direct: bool  # the query named a document (文号 or title) and went straight to it
    total: int
    page: int
    page_size: int
    sort: str
    results: list[SearchResult]
    took_ms: float = 0.0  # time the server spent searching


class FacetValue(BaseModel):
    value: str
    label: str
    count: int


class FacetsOut(BaseModel):
    issuer: list[FacetValue]
    region: list[FacetValue]
    topic: list[FacetValue]
    doc_type: list[FacetValue]
    status: list[FacetValue]


class SectionOut(BaseModel):
    passage_id: str
    heading_path: list[str]
    start: int
    end: int
    text: str


class HeadingOut(BaseModel):
    level: int  # 0 编 / 1 章 / 2 节 / 3 条 / 4+ numbered items, as corpus.chunking ranks them
    label: str
    start: int  # offset of the heading line in the document text


class VersionOut(DocSummary):
    effective_date: str | None
    supersedes: str | None
    superseded_by: str | None
    is_this: bool


class DocumentOut(DocSummary):
    text: str
    effective_date: str | None
    region: str | None
    level: str | None
    topics: list[str]
    collection: str | None
    source_url: str | None
    metadata: dict[str, Any]
    outline: list[HeadingOut]
    sections: list[SectionOut]
    in_force: bool
    current_version: DocSummary | None
    revisions: list[VersionOut]
    interpretations: list[DocSummary]
    interprets: DocSummary | None


class FeedbackResponse(BaseModel):
    id: int
    answer_id: str
    stored: bool = True


class FaqOut(BaseModel):
    id: int
    question: str
    answer: str
    doc_id: str | None


class IngestResponse(BaseModel):
    added: list[str]
    removed: list[str]
    documents: int
    linked: dict[str, str]  # new doc id -> id of the version it supersedes


class ReindexResponse(BaseModel):
    documents: int
    passages: int
    seconds: float
