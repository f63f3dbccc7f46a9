"""Operations: Prometheus metrics for the portal's operators (admin key, as every admin route)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from qa_service.metrics import CONTENT_TYPE
from qa_service.routes.deps import StateDep, require_admin

router = APIRouter(tags=["运维"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_admin)],
    summary="Prometheus 指标：各接口请求数与耗时、回答与拒答、常见问题命中、索引规模与时效、推送状态",
)
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE)
