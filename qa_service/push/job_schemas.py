"""The planning jobs' HTTP shapes: `POST /api/admin/push/plan` answers 202 with a `JobOut`, and
`GET /api/admin/push/jobs/{id}` shows it as it runs."""

from __future__ import annotations

from pydantic import BaseModel, Field

from qa_service.push.job_store import PlanJob
from qa_service.push.schemas import iso_time

STATUS_LABELS = {"queued": "排队中", "running": "规划中", "done": "已完成", "failed": "失败"}


class JobOut(BaseModel):
    job_id: int
    status: str = Field(description="queued / running / done / failed")
    status_label: str
    source: str = Field(description="admin（管理接口）/ ingest（导入后自动）/ cli（命令行）")
    doc_ids: list[str] | None = Field(None, description="指定的文件；为空表示所有已导入未规划的文件")
    documents: int = Field(description="本任务要处理的文件数（开始运行后确定）")
    progress: int = Field(description="已处理的文件数")
    enqueued: int = Field(description="新增的待发推送条数")
    revised: list[str]
    skipped: dict[str, str]
    errors: dict[str, str]
    held: list[str] = Field(description="待人工审核（先审后发）的文件编号")
    error: str | None = None
    runs: int = Field(description="被领取运行的次数（大于 1 表示中断后续跑）")
    created: str
    started: str | None = None
    finished: str | None = None
    status_url: str

    @classmethod
    def of(cls, j: PlanJob) -> JobOut:
        return cls(
            job_id=j.id, status=j.status, status_label=STATUS_LABELS.get(j.status, j.status), source=j.source,
            doc_ids=list(j.doc_ids) if j.doc_ids is not None else None, documents=j.documents, progress=j.progress,
            enqueued=j.enqueued, revised=list(j.revised), skipped=j.skipped, errors=j.errors, held=list(j.held),
            error=j.error, runs=j.runs, created=iso_time(j.created),
            started=iso_time(j.started) if j.started is not None else None,
            finished=iso_time(j.finished) if j.finished is not None else None,
            status_url=f"/api/admin/push/jobs/{j.id}",
        )  # fmt: skip


class JobListOut(BaseModel):
    active: int = Field(description="排队中或规划中的任务数")
    items: list[JobOut]
