"""Precise push admin jobs over HTTP (admin key): plan, deliver, status, requeue failed sends."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from qa_service.push import service
from qa_service.push.schemas import DeliverIn, DeliverOut, FailureOut, PlanIn, PlanOut, StatusOut
from qa_service.routes.deps import StateDep, require_admin

router = APIRouter(prefix="/api/admin/push", tags=["管理"], dependencies=[Depends(require_admin)])


@router.post("/plan", response_model=PlanOut, summary="为新增或修订的文件生成推送（不重复）")
def plan_route(state: StateDep, body: PlanIn | None = None) -> PlanOut:
    return PlanOut.of(service.plan_requested(state, body.doc_ids if body else None))


@router.post("/deliver", response_model=DeliverOut, summary="发送待发推送（中断后重跑只发剩余的）")
def deliver_route(state: StateDep, body: DeliverIn | None = None) -> DeliverOut:
    return DeliverOut.of(service.deliver_now(state, (body or DeliverIn()).limit))


@router.get("/status", response_model=StatusOut, summary="推送状态：各状态条数与发送失败明细")
def status_route(state: StateDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> StatusOut:
    store = state.push_store
    return StatusOut(
        outbox=store.status_counts(),
        profiles=store.count_profiles(),
        unplanned_documents=len(store.unplanned_documents()),
        failures=[
            FailureOut(key=f.key, profile_id=f.profile_id, doc_id=f.doc_id, attempts=f.attempts, error=f.error)
            for f in store.failures(limit)
        ],
    )


@router.post("/requeue-failed", summary="把发送失败的推送重新排队（渠道故障排除后）")
def requeue_route(state: StateDep) -> dict[str, int]:
    return {"requeued": state.push_store.requeue_failed()}
