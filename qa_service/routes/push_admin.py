"""Precise push admin jobs over HTTP (admin key): plan (a background job: 202 and its id, then
`GET /jobs/{id}`), deliver, status, requeue failed sends, and the review step (先审后发): the queue,
approve, drop, corrected labels and their export, preview."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from qa_service.errors import ApiError, ErrorCode
from qa_service.push import review, service
from qa_service.push.job_schemas import JobListOut, JobOut
from qa_service.push.schemas import (
    DecisionOut,
    DeliverIn,
    DeliverOut,
    DocumentStatusOut,
    FailureOut,
    LabelsIn,
    PlanIn,
    PreviewIn,
    PreviewOut,
    RequeueIn,
    ReviewListOut,
    ReviewOut,
    StatusOut,
)
from qa_service.routes.admin import checked_document
from qa_service.routes.deps import StateDep, require_admin

router = APIRouter(prefix="/api/admin/push", tags=["管理"], dependencies=[Depends(require_admin)])


@router.post("/plan", response_model=JobOut, status_code=202, summary="为新增或修订的文件生成推送（后台任务，不重复）")
def plan_route(state: StateDep, body: PlanIn | None = None) -> JobOut:
    job = state.push_jobs.get(service.plan_requested(state, body.doc_ids if body else None))
    assert job is not None
    return JobOut.of(job)


@router.get("/jobs", response_model=JobListOut, summary="推送规划任务：最近的任务及其状态（可等待全部完成）")
def jobs_route(
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    wait: Annotated[float, Query(ge=0, le=60, description="最多等待这么多秒，直到没有排队或规划中的任务")] = 0,
) -> JobListOut:
    if wait:
        state.push_jobs.wait_idle(wait)
    return JobListOut(active=state.push_store.active_jobs(), items=[JobOut.of(j) for j in state.push_store.jobs(limit)])


@router.get("/jobs/{job_id}", response_model=JobOut, summary="推送规划任务的状态：排队、规划中、完成或失败，及计数")
def job_route(job_id: Annotated[int, Path(ge=1, le=2**62)], state: StateDep) -> JobOut:
    job = state.push_jobs.get(job_id)
    if job is None:
        raise ApiError(ErrorCode.NOT_FOUND, "未找到该规划任务。")
    return JobOut.of(job)


@router.post("/deliver", response_model=DeliverOut, summary="发送待发推送（中断后重跑只发剩余的）")
def deliver_route(state: StateDep, body: DeliverIn | None = None) -> DeliverOut:
    return DeliverOut.of(service.deliver_now(state, (body or DeliverIn()).limit))


@router.get(
    "/status", response_model=StatusOut, summary="推送状态：各状态条数，按文件和渠道的计划/已发/失败/死信，死信明细"
)
def status_route(
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    doc_id: Annotated[str | None, Query(max_length=300, description="只看该文件")] = None,
) -> StatusOut:
    store = state.push_store
    return StatusOut(
        outbox=store.status_counts(),
        profiles=store.count_profiles(),
        unplanned_documents=len(store.unplanned_documents()),
        failures=[
            FailureOut(
                key=f.key,
                profile_id=f.profile_id,
                doc_id=f.doc_id,
                attempts=f.attempts,
                error=f.error,
                channel=f.channel,
            )
            for f in store.failures(limit)
        ],  # fmt: skip
        documents=[DocumentStatusOut(**r) for r in store.status_by_document(service.doc_id_or_none(doc_id), limit)],
    )


@router.post("/requeue-failed", summary="把死信（多次发送失败或被拒收的推送）重新排队（渠道故障排除后）")
def requeue_route(state: StateDep, body: RequeueIn | None = None) -> dict[str, int]:
    body = body or RequeueIn()
    return {"requeued": service.requeue(state, body.doc_id, body.channel)}


# -- the review step (先审后发) -----------------------------------------------------------------
DocId = Annotated[str, Path(description="文件编号")]


@router.get("/review", response_model=ReviewListOut, summary="待审核的推送：标注、依据、置信度、原因与覆盖人群")
def review_list_route(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReviewListOut:
    return review.waiting(state, limit)


@router.post("/review/{doc_id}/approve", response_model=DecisionOut, summary="批准发送（下次发送时逐条送达一次）")
def review_approve_route(doc_id: DocId, state: StateDep) -> DecisionOut:
    return review.approve(state, doc_id)


@router.post("/review/{doc_id}/drop", response_model=DecisionOut, summary="撤下不发（删除待审核的推送，保留决定）")
def review_drop_route(doc_id: DocId, state: StateDep) -> DecisionOut:
    return review.drop(state, doc_id)


@router.put("/review/{doc_id}/labels", response_model=ReviewOut, summary="修正标注并重新匹配（仍待审核）")
def review_labels_route(doc_id: DocId, body: LabelsIn, state: StateDep) -> ReviewOut:
    return review.correct(state, doc_id, body)


@router.get("/corrections/export", summary="导出标注修正（JSONL，doc_labels.jsonl 格式，可作训练数据）")
def corrections_export_route(state: StateDep) -> StreamingResponse:
    return StreamingResponse(
        review.export_corrections(state),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="doc_labels_corrections.jsonl"'},
    )


@router.post("/preview", response_model=PreviewOut, summary="预览推送对象与原因（不保存、不发送）")
def preview_route(body: PreviewIn, state: StateDep) -> PreviewOut:
    doc = checked_document(1, body.document) if body.document is not None else None
    return review.preview(state, body.doc_id, doc)
