"""Precise search for 12345 agents (one row per document) and the facets its pickers offer.

The use case behind `/api/search` and `/api/agent/search`; the routes only parse HTTP.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from corpus.models import ChoiceEnum, Document, Status
from index.answer import GENERIC_TERMS, highlight
from index.config import SearchMode
from index.types import Filters, Hit
from qa_service.pages import reader_link
from qa_service.schemas import DocSummary, SearchResponse, SearchResult

MAX_RESULTS = 200  # deepest result reachable by paging
SNIPPET_CHARS = 160
STATUS_LABELS = {"current": "现行有效", "superseded": "已修订", "expired": "已废止", "unknown": "未标注"}


class SortOrder(ChoiceEnum):
    RELEVANCE = "relevance"
    DATE = "date"


@dataclass(frozen=True)
class SearchQuery:
    query: str  # checked text, "" to browse
    filters: Filters | None
    page: int
    page_size: int
    order: SortOrder
    mode: SearchMode


def _result(doc: Document, score: float, hit: Hit | None, terms: list[str]) -> SearchResult:
    text = hit.passage.text if hit else doc.text
    snippet = text[:SNIPPET_CHARS] + ("…" if len(text) > SNIPPET_CHARS else "")
    spans, marked = highlight(snippet, terms)
    summary = DocSummary.of(doc).model_dump()
    if hit is not None:
        summary["reader_url"] = reader_link(doc.id, hit.passage.id)  # opened at the matching passage
    return SearchResult(
        **summary,
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


def run_search(index: Any, sq: SearchQuery) -> SearchResponse:
    started = time.perf_counter()
    filters, order, search_mode = sq.filters, sq.order, sq.mode
    direct = False
    results: list[SearchResult] = []
    if not sq.query:
        # Browse: every document passing the filters, newest first.
        docs = [d for d in index.documents.values() if filters is None or filters.accepts(d)]
        results = [_result(d, 0.0, None, []) for d in docs]
        order = SortOrder.DATE
    else:
        terms = [t for t in index.tokenize(sq.query) if t not in GENERIC_TERMS]
        named = [d for d in index.lookup(sq.query) if filters is None or filters.accepts(d)]
        if named:
            # A 文号 or an exact title names the document(s): go straight there.
            direct = True
            results = [_result(d, 1.0, None, terms) for d in named]
        else:
            if search_mode is SearchMode.DENSE and getattr(index, "encoder", None) is None:
                search_mode = SearchMode.HYBRID  # BM25-only deployment: answer rather than fail
            hits = index.search(sq.query, top_k=MAX_RESULTS, filters=filters, mode=search_mode)
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
    start = (sq.page - 1) * sq.page_size
    return SearchResponse(
        query=sq.query,
        direct=direct,
        total=len(results),
        page=sq.page,
        page_size=sq.page_size,
        sort=order.value,
        results=results[start : start + sq.page_size],
        took_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def facets(documents: Any) -> dict[str, list[dict[str, Any]]]:
    """Values of each filterable field over the served documents, most frequent first, with counts."""
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("issuer", "region", "topic", "doc_type", "status")}
    for d in documents:
        for field, value in (("issuer", d.issuer), ("region", d.region), ("doc_type", d.doc_type)):
            if value:
                counts[field][value] += 1
        for t in dict.fromkeys(d.topics):
            counts["topic"][t] += 1
        counts["status"][d.status.value] += 1
    out: dict[str, list[dict[str, Any]]] = {}
    for field, c in counts.items():
        rows = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))
        if field == "status":
            rows = [(s.value, c[s.value]) for s in Status if c[s.value]]
        out[field] = [
            {"value": v, "label": STATUS_LABELS.get(v, v) if field == "status" else v, "count": n} for v, n in rows
        ]
    return out
