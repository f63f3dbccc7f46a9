"""GET /api/search (precise search, one row per document), its agents' twin /api/agent/search (agent key,
limited per agent), and GET /api/search/facets (the values the console's pickers offer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from index.config import SearchMode
from qa_service.errors import ApiError, ErrorCode
from qa_service.routes.deps import AgentDep, StateDep, build_filters, rate_limit
from qa_service.schemas import FacetsOut, SearchResponse, check_text
from qa_service.searching import MAX_RESULTS, SearchQuery, SortOrder, facets, run_search

router = APIRouter(prefix="/api", tags=["检索"])

MAX_PAGE_SIZE = 50


def search_query(
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
) -> SearchQuery:
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
    return SearchQuery(query, filters, page, page_size, order, search_mode)


SearchDep = Annotated[SearchQuery, Depends(search_query)]


@router.get(
    "/search",
    response_model=SearchResponse,
    dependencies=[Depends(rate_limit)],
    summary="精确检索：关键词 + 筛选（状态、发文机关、日期、地区、主题、文件类型），分页与排序",
)
def search(state: StateDep, sq: SearchDep) -> SearchResponse:
    return run_search(state.snapshot().index, sq)


@router.get(
    "/agent/search",
    response_model=SearchResponse,
    summary="坐席检索（坐席密钥 X-Agent-Key，按坐席限流）：参数与 /api/search 相同",
)
def agent_search(state: StateDep, agent: AgentDep, sq: SearchDep) -> SearchResponse:
    return run_search(state.snapshot().index, sq)


@router.get(
    "/search/facets",
    response_model=FacetsOut,
    dependencies=[Depends(rate_limit)],
    summary="筛选项：发文机关、地区、主题、文件类型、状态的取值与文件数",
)
def search_facets(state: StateDep) -> FacetsOut:
    return FacetsOut.model_validate(facets(state.snapshot().index.documents.values()))
