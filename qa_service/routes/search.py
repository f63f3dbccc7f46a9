"""GET /api/search: precise search for 12345 agents, one row per document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from corpus.models import ChoiceEnum, Document
from index.answer import GENERIC_TERMS, highlight
from index.config import SearchMode
from index.types import Hit
from qa_service.errors import ApiError, ErrorCode
from qa_service.routes.deps import StateDep, build_filters, rate_limit
from qa_service.schemas import DocSummary, SearchResponse, SearchResult, check_text

router = APIRouter(prefix="/api", tags=["检索"])

MAX_PAGE_SIZE = 50
MAX_RESULTS = 200  # deepest result reachable by paging
SNIPPET_CHARS = 160


class SortOrder(ChoiceEnum):
    RELEVANCE = "relevance"
    DATE = "date"


def _result(doc: Document, score: float, hit: Hit | None, terms: list[str]) -> SearchResult:
    text = hit.passage.text if hit else doc.text
    snippet = text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")
    spans, marked = highlight(snippet, terms)
    return SearchResult(
        **DocSummary.of(doc).model_dump(),
        score=round(score, 6),
        region=doc.region,
        passage_id=hit.passage.id if hit else None,
        heading_path=list(hit.passage.heading_path) if hit else [],
        snippet=snippet,
        html=marked,
        highlights=list(spans),
    )


def _by_date(results: list[SearchResult]) -> list[SearchResult]:
    # Newest first; undated documents last.
    return sorted(results, key=lambda r: (r.publish_date is not None, r.publish_date or ""), reverse=True)


@router.get(
    "/search",
    response_model=SearchResponse,
    dependencies=[Depends(rate_limit)],
    summary="精确检索：关键词 + 筛选（状态、发文机关、日期、地区、主题、文件类型），分页与排序",
)
def search(
    state: StateDep,
    q: Annotated[str, Query(description="关键词、文号（如 国发〔2019〕5号）或文件标题；为空时按筛选条件列出文件")] = "",
    status: Annotated[
        list[str] | None, Query(description="current / expired / superseded / unknown，可多选或逗号分隔")
    ] = None,
    issuer: Annotated[str | None, Query(description="发文机关（包含匹配）")] = None,
    date_from: Annotated[str | None, Query(description="发布日期起，YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, Query(description="发布日期止，YYYY-MM-DD")] = None,
    region: Annotated[str | None, Query(description="地区（包含匹配）")] = None,
    topic: Annotated[str | None, Query(description="主题")] = None,
    doc_type: Annotated[str | None, Query(description="文件类型，如 通知、意见、条例、解读")] = None,
    page: Annotated[int, Query(description="页码，从 1 开始")] = 1,
    page_size: Annotated[int, Query(description=f"每页条数，1-{MAX_PAGE_SIZE}")] = 10,
    sort: Annotated[str, Query(description="relevance（相关度）或 date（发布日期，新到旧）")] = "relevance",
    mode: Annotated[str, Query(description="hybrid（默认，只列含查询词的文件）、bm25、dense（语义相近）")] = "hybrid",
) -> SearchResponse:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ApiError(ErrorCode.BAD_PAGE, f"每页条数应在 1-{MAX_PAGE_SIZE} 之间。")
    if not 1 <= page <= MAX_RESULTS:
        raise ApiError(ErrorCode.BAD_PAGE, f"页码应在 1-{MAX_RESULTS} 之间。")
    try:
        order = SortOrder.from_str(sort)
    except ValueError:
        raise ApiError(ErrorCode.BAD_FILTER, "排序方式无效，可选值：relevance（相关度）、date（发布日期）。") from None
    try:
        search_mode = SearchMode.from_str(mode)
    except ValueError:
        raise ApiError(ErrorCode.BAD_FILTER, "检索方式无效，可选值：hybrid、bm25、dense。") from None
    filters = build_filters(status, issuer, date_from, date_to, region, topic, doc_type)
    query = check_text(q, max_chars=state.settings.max_question_chars, what="查询词") if q.strip() else ""
    snap = state.snapshot()
    index = snap.index

    direct = False
    results: list[SearchResult] = []
    if not query:
        # Browse: every document passing the filters, newest first.
        docs = [d for d in index.documents.values() if filters is None or filters.accepts(d)]
        results = [_result(d, 0.0, None, []) for d in docs]
        order = SortOrder.DATE
    else:
        terms = [t for t in index.tokenize(query) if t not in GENERIC_TERMS]
        named = [d for d in index.lookup(query) if filters is None or filters.accepts(d)]
        if named:
            # A 文号 or an exact title names the document(s): go straight there.
            direct = True
            results = [_result(d, 1.0, None, terms) for d in named]
        else:
            if search_mode is SearchMode.DENSE and getattr(index, "encoder", None) is None:
                search_mode = SearchMode.HYBRID  # BM25-only deployment: answer rather than fail
            hits = index.search(query, top_k=MAX_RESULTS, filters=filters, mode=search_mode)
            if search_mode is not SearchMode.DENSE:
                # Precise search: a document must contain a query word, not merely be near in meaning.
                hits = [h for h in hits if h.scores.get("bm25", 1.0) > 0]
            best: dict[str, Hit] = {}
            for h in hits:
                best.setdefault(h.doc_id, h)
            for doc_id, h in best.items():
                doc = index.get_document(doc_id)
                if doc is not None:
                    results.append(_result(doc, h.score, h, terms))
    if order is SortOrder.DATE:
        results = _by_date(results)
    start = (page - 1) * page_size
    return SearchResponse(
        query=query,
        direct=direct,
        total=len(results),
        page=page,
        page_size=page_size,
        sort=order.value,
        results=results[start : start + page_size],
    )
