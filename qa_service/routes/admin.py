"""Admin endpoints (API key required): ingest and repeal, re-index, FAQ edits, feedback review and export,
the questions the service could not answer."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse

from corpus.models import Document, DocumentFieldError
from qa_service.errors import ApiError, ErrorCode
from qa_service.loading import append_ingest_log, link_versions, open_index, rebuild_with, save_checkpoint
from qa_service.operators import beir_qrels, beir_queries, group_questions
from qa_service.push.service import plan_ingested
from qa_service.routes.deps import StateDep, require_admin
from qa_service.schemas import (
    DOC_ID,
    FEEDBACK_REASONS,
    FaqIn,
    FaqOut,
    IngestRequest,
    IngestResponse,
    ReindexResponse,
    check_text,
)
from qa_service.state import AppState

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/admin", tags=["管理"], dependencies=[Depends(require_admin)])

MAX_INGEST_DOCS = 500
MAX_FAQ_CHARS = 2000
FaqId = Annotated[int, Path(ge=1, le=2**62, description="常见问题编号")]


# -- feedback and the questions the service could not answer ----------------------------------
FeedbackReason = Literal["not_answered", "outdated", "wrong_citation", "other"]
UsefulQuery = Annotated[bool | None, Query(description="true 只看“有用”，false 只看“没用”")]
ReasonQuery = Annotated[FeedbackReason | None, Query(description="原因：not_answered、outdated、wrong_citation、other")]


@router.get("/feedback/export", summary="导出评价（JSONL，每行一条，可作评测集）")
def export_feedback(state: StateDep, useful: UsefulQuery = None, reason: ReasonQuery = None) -> StreamingResponse:
    def lines() -> Iterator[str]:
        for row in state.store.export_feedback(useful, reason):
            yield json.dumps(row, ensure_ascii=False) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'},
    )


@router.get("/feedback", summary="评价列表（可按有用/没用、原因筛选），最新在前")
def list_feedback(
    state: StateDep,
    useful: UsefulQuery = None,
    reason: ReasonQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    rows = list(state.store.export_feedback(useful, reason))
    rows.reverse()
    return {"total": len(rows), "reasons": FEEDBACK_REASONS, "feedback": rows[:limit]}


@router.get("/feedback/export/queries.jsonl", summary="评价导出为 BEIR 评测集：queries.jsonl")
def export_beir_queries(state: StateDep, useful: UsefulQuery = None, reason: ReasonQuery = None) -> Response:
    rows = list(state.store.export_feedback(useful, reason))
    return Response(
        beir_queries(rows),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="queries.jsonl"'},
    )


@router.get("/feedback/export/qrels.tsv", summary="评价导出为 BEIR 评测集：qrels.tsv（有用 1，没用 0）")
def export_beir_qrels(state: StateDep, useful: UsefulQuery = None, reason: ReasonQuery = None) -> Response:
    rows = list(state.store.export_feedback(useful, reason))
    return Response(
        beir_qrels(rows),
        media_type="text/tab-separated-values; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="qrels.tsv"'},
    )


@router.get("/questions/unanswered", summary="未能回答和低置信度的问题，按相似度归组并计数（常见问题待办）")
def unanswered_questions(
    state: StateDep,
    below: Annotated[float | None, Query(ge=0.0, le=1.0, description="低置信度界线，默认拒答阈值 + 0.1")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    threshold = below if below is not None else min(1.0, state.snapshot().answerer.threshold + 0.1)  # its own scale
    rows = state.store.weak_answers(threshold)
    groups = group_questions(rows, state.snapshot().index.tokenize)
    faq = {e.question: e.id for e in state.store.faq_entries()}  # a group already drafted says so
    out = []
    for g in groups[:limit]:
        d = g.as_dict()
        d["faq_id"] = next((faq[q] for q in (g.question, *g.examples) if q in faq), None)
        out.append(d)
    return {"below": threshold, "answers": len(rows), "groups": out}


# -- FAQ --------------------------------------------------------------------------
def _faq_fields(body: FaqIn, state: AppState) -> tuple[str, str, str | None]:
    q = check_text(body.question, max_chars=state.settings.max_question_chars, what="问题")
    a = check_text(
        body.answer,
        max_chars=MAX_FAQ_CHARS,
        empty=ErrorCode.INVALID_REQUEST,
        too_long=ErrorCode.INVALID_REQUEST,
        what="答案",
    )
    doc_id = body.doc_id.strip() if body.doc_id else None
    if doc_id is not None:
        if not DOC_ID.match(doc_id):
            raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确。")
        if state.snapshot().index.get_document(doc_id) is None:
            raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND, "答案出处的文件不存在，请确认文件编号。")
    return q, a, doc_id


def _faq_out(state: AppState, faq_id: int) -> FaqOut:
    e = state.store.get_faq(faq_id)
    if e is None:
        raise ApiError(ErrorCode.FAQ_NOT_FOUND)
    return FaqOut(id=e.id, question=e.question, answer=e.answer, doc_id=e.doc_id)


@router.get("/faq", response_model=list[FaqOut], summary="常见问题列表")
def list_faq(state: StateDep) -> list[FaqOut]:
    return [FaqOut(id=e.id, question=e.question, answer=e.answer, doc_id=e.doc_id) for e in state.store.faq_entries()]


@router.post("/faq", response_model=FaqOut, status_code=201, summary="新增常见问题（同一问题则更新）")
def create_faq(body: FaqIn, state: StateDep) -> FaqOut:
    q, a, doc_id = _faq_fields(body, state)
    entry = state.store.upsert_faq(q, a, doc_id)
    state.refresh_faq()
    return _faq_out(state, entry.id)


@router.put("/faq/{faq_id}", response_model=FaqOut, summary="修改常见问题")
def update_faq(body: FaqIn, faq_id: FaqId, state: StateDep) -> FaqOut:
    if state.store.get_faq(faq_id) is None:
        raise ApiError(ErrorCode.FAQ_NOT_FOUND)
    q, a, doc_id = _faq_fields(body, state)
    try:
        state.store.upsert_faq(q, a, doc_id, faq_id=faq_id)
    except ValueError:
        raise ApiError(ErrorCode.INVALID_REQUEST, "已有相同问题的常见问题条目。", status=409) from None
    state.refresh_faq()
    return _faq_out(state, faq_id)


@router.delete("/faq/{faq_id}", summary="删除常见问题")
def delete_faq(faq_id: FaqId, state: StateDep) -> dict[str, bool]:
    if not state.store.delete_faq(faq_id):
        raise ApiError(ErrorCode.FAQ_NOT_FOUND)
    state.refresh_faq()
    return {"deleted": True}


# -- documents -------------------------------------------------------------------
def _swap_rebuilt(state: AppState, upserts: list[Document], repeal_ids: list[str]) -> IngestResponse:
    with state.write_lock:
        old = state.snapshot()
        new_index = rebuild_with(old.index, upserts, repeal_ids, state.settings)
        link_versions(new_index)
        snap = state.rebuild_snapshot(new_index)
        ops = [{"op": "upsert", "doc": d.to_dict()} for d in upserts] + [{"op": "repeal", "id": i} for i in repeal_ids]
        try:
            append_ingest_log(state.settings, ops)  # the batch is durable before anyone can see it
        except OSError as exc:
            logger.error("ingest log write failed, batch not applied: %s", exc)
            raise ApiError(ErrorCode.STORAGE_UNAVAILABLE) from None
        state.swap(snap)
        save_checkpoint(state.settings, new_index)  # the next start loads this instead of replaying the log
    linked = {}
    for d in upserts:
        chain = snap.library.revisions(d.id)
        earlier = [i for i in chain[: chain.index(d.id)]] if d.id in chain else []
        if earlier:
            linked[d.id] = earlier[-1]
    logger.info("ingest: %d upserted, %d repealed", len(upserts), len(repeal_ids))
    return IngestResponse(
        added=[d.id for d in upserts], removed=repeal_ids, documents=len(new_index.documents), linked=linked
    )


# Chinese for what each field must be, so an operator's mistake is explained without English.
_FIELD_PROBLEMS = {
    "is required": "缺少该字段",
    "unknown field": "不支持该字段",
    "YYYY-MM-DD": "应为 YYYY-MM-DD 格式的日期或 null",
    "string or null": "应为字符串或 null",
    "non-empty": "不能为空",
    "string": "应为字符串",
    "one of": "取值应为 current、expired、superseded、unknown 之一",
    "list of strings": "应为字符串列表",
    "surrogate": "含有无效编码的字符",
    "nested too deeply": "嵌套过深",
    "object": "应为 JSON 对象",
    "JSON values": "只能包含 JSON 基本类型",
}


def checked_document(n: int, raw: object) -> Document:
    """The n-th document of a batch, or a Chinese 422 naming the field and what it must be."""
    try:
        doc = Document.from_dict(raw)  # type: ignore[arg-type]
    except DocumentFieldError as exc:
        problem = next((zh for en, zh in _FIELD_PROBLEMS.items() if en in exc.problem), "取值不正确")
        field = exc.field if len(exc.field) <= 40 else exc.field[:40] + "…"
        raise ApiError(ErrorCode.INVALID_REQUEST, f"第 {n} 个文件的字段“{field}”{problem}。") from None
    if not DOC_ID.match(doc.id) or not doc.text.strip():
        raise ApiError(ErrorCode.INVALID_REQUEST, f"第 {n} 个文件缺少有效的 id 或正文。")
    for value, limit, what in ((doc.title or "无标题", 500, "标题"), (doc.text, 2_000_000, "正文")):
        try:
            check_text(
                value, max_chars=limit, empty=ErrorCode.INVALID_REQUEST, too_long=ErrorCode.INVALID_REQUEST, what=what
            )
        except ApiError as exc:
            raise ApiError(exc.code, f"第 {n} 个文件：{exc.message}") from None
    return doc


@router.post(
    "/documents", response_model=IngestResponse, summary="新增或更新文件（同 id 则替换），自动关联旧版本与解读"
)
def ingest(body: IngestRequest, state: StateDep) -> IngestResponse:
    if not body.documents:
        raise ApiError(ErrorCode.INVALID_REQUEST, "文件列表不能为空。")
    if len(body.documents) > MAX_INGEST_DOCS:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"一次最多导入 {MAX_INGEST_DOCS} 个文件。")
    docs = []
    seen: set[str] = set()
    for n, raw in enumerate(body.documents, 1):
        doc = checked_document(n, raw)
        if doc.id in seen:
            raise ApiError(ErrorCode.INVALID_REQUEST, f"第 {n} 个文件的 id 与本批中前面的文件重复。")
        seen.add(doc.id)
        docs.append(doc)
    before = state.snapshot().index  # to tell a revised text from a new document
    result = _swap_rebuilt(state, docs, [])
    plan_ingested(state, [d.id for d in docs], before)  # notes them and queues a planning job; never fails
    return result


@router.delete("/documents/{doc_id}", response_model=IngestResponse, summary="废止文件（仍可查看，标记为已失效）")
def repeal(doc_id: str, state: StateDep) -> IngestResponse:
    if not DOC_ID.match(doc_id):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确。")
    if state.snapshot().index.get_document(doc_id) is None:
        raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND)
    return _swap_rebuilt(state, [], [doc_id])


@router.post("/reindex", response_model=ReindexResponse, summary="重建索引并无缝切换（处理中的请求不受影响）")
def reindex(state: StateDep) -> ReindexResponse:
    t0 = time.perf_counter()
    with state.write_lock:
        old = state.snapshot().index
        new_index = open_index(state.settings, getattr(old, "encoder", None))
        link_versions(new_index)
        state.swap(state.rebuild_snapshot(new_index))
    return ReindexResponse(
        documents=len(new_index.documents), passages=len(new_index), seconds=round(time.perf_counter() - t0, 3)
    )
