"""Request and response models of the push routes, and how the service's records become responses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from corpus.push.taxonomy import GROUPS, TOPICS
from qa_service.push.delivery import DeliveryReport
from qa_service.push.planner import PlanResult
from qa_service.push.records import InboxItem, Subscriber

_STRICT = ConfigDict(extra="forbid")
_CST = timezone(timedelta(hours=8))


def iso_time(ts: float) -> str:
    """A stored timestamp as China Standard Time, to the second."""
    return datetime.fromtimestamp(ts, _CST).isoformat(timespec="seconds")


class ContactIn(BaseModel):
    model_config = _STRICT
    channel: str = Field("inbox", description="inbox（站内信）、sms（短信）或 email（电子邮件）")
    address: str | None = Field(None, description="手机号或电子邮箱；站内信不填")


class ProfileIn(BaseModel):
    model_config = _STRICT
    kind: str = Field(description="resident（居民个人）或 enterprise（企业、个体工商户）")
    province: str | None = Field(None, description="例如 山东省")
    city: str | None = Field(None, description="例如 济南市；直辖市填写与省份相同的名称")
    district: str | None = Field(None, description="例如 历城区")
    street: str | None = Field(None, description="例如 洪家楼街道")
    groups: list[str] = Field(default_factory=list, max_length=len(GROUPS), description="所属群体（见分类表）")
    topics: list[str] = Field(default_factory=list, max_length=len(TOPICS), description="关注主题（见分类表）")
    description: str | None = Field(None, description="自我描述（可选，仅本人和管理员可见）")
    contact: ContactIn | None = None


class ContactOut(BaseModel):
    channel: str
    address: str | None


class ProfileOut(BaseModel):
    profile_id: str
    kind: str
    province: str | None
    city: str | None
    district: str | None
    street: str | None
    groups: list[str]
    topics: list[str]
    description: str
    contact: ContactOut
    created: str
    updated: str

    @classmethod
    def of(cls, sub: Subscriber, **extra: Any) -> Self:
        return cls(
            **sub.profile.to_dict(),
            contact={"channel": sub.contact.channel.value, "address": sub.contact.address},
            created=iso_time(sub.created),
            updated=iso_time(sub.updated),
            **extra,
        )


class ProfileCreated(ProfileOut):
    token: str = Field(description="订阅凭证，只显示这一次；之后以 Authorization: Bearer <凭证> 访问本人订阅")
    notice: str


class InboxItemOut(BaseModel):
    doc_id: str
    title: str
    doc_number: str | None
    link: str
    reason: str
    evidence: list[str]
    revised: bool
    delivered: str


class InboxOut(BaseModel):
    total: int
    items: list[InboxItemOut]

    @classmethod
    def of(cls, total: int, items: list[InboxItem]) -> InboxOut:
        return cls(
            total=total,
            items=[
                InboxItemOut(
                    doc_id=i.doc_id,
                    title=i.title,
                    doc_number=i.doc_number,
                    link=i.link,
                    reason=i.reason,
                    evidence=list(i.evidence),
                    revised=i.revised,
                    delivered=iso_time(i.delivered),
                )
                for i in items
            ],
        )


class Choice(BaseModel):
    value: str
    label: str


class TaxonomyOut(BaseModel):
    groups: list[str]
    topics: list[str]
    kinds: list[Choice]
    channels: list[Choice]
    provinces: list[str]


class PlanIn(BaseModel):
    model_config = _STRICT
    doc_ids: list[str] | None = Field(None, description="要推送的文件编号；不填则推送上次以来导入、尚未推送的文件")


class PlanOut(BaseModel):
    documents: int
    enqueued: int
    revised: list[str]
    skipped: dict[str, str]
    errors: dict[str, str]
    held: list[str] = Field(default_factory=list, description="待人工审核（先审后发）的文件编号")

    @classmethod
    def of(cls, r: PlanResult) -> PlanOut:
        return cls(
            documents=r.documents,
            enqueued=r.enqueued,
            revised=list(r.revised),
            skipped=r.skipped,
            errors=r.errors,
            held=list(r.held),
        )


class DeliverIn(BaseModel):
    model_config = _STRICT
    limit: int = Field(100, ge=1, le=10_000, description="本次最多发送的条数")


class FailureOut(BaseModel):
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str | None
    final: bool = True


class DeliverOut(BaseModel):
    sent: int
    retrying: int
    failed: int
    failures: list[FailureOut]

    @classmethod
    def of(cls, report: DeliveryReport) -> DeliverOut:
        return cls(
            sent=report.sent,
            retrying=report.retrying,
            failed=report.failed,
            failures=[
                FailureOut(
                    key=f.key,
                    profile_id=f.profile_id,
                    doc_id=f.doc_id,
                    attempts=f.attempts,
                    error=f.error,
                    final=f.final,
                )  # fmt: skip
                for f in report.failures
            ],
        )


class StatusOut(BaseModel):
    outbox: dict[str, int]
    profiles: int
    unplanned_documents: int
    failures: list[FailureOut]


# -- the review step (先审后发) -------------------------------------------------------------------
class JurisdictionIn(BaseModel):
    model_config = _STRICT
    level: str = Field(description="national（全国）、provincial（省级）、municipal（市级）或 district（区县级）")
    province: str | None = Field(None, description="例如 山东省")
    city: str | None = Field(None, description="例如 济南市")
    district: str | list[str] | None = Field(None, description="例如 历城区；可为多个")


class LabelsIn(BaseModel):
    """Corrected labels, as in push-dev's doc_labels.jsonl; every group needs a quote from the text."""

    model_config = _STRICT
    audience: list[str] = Field(default_factory=list, max_length=2, description="resident 和/或 enterprise")
    jurisdiction: JurisdictionIn
    groups: list[str] = Field(default_factory=list, max_length=len(GROUPS), description="适用群体（见分类表）")
    evidence: dict[str, str] = Field(default_factory=dict, description="群体 -> 原文中逐字出现的依据")
    topics: list[str] = Field(default_factory=list, max_length=len(TOPICS), description="主题（见分类表）")
    expired: bool = Field(False, description="文件已失效或被替代")


class LabelsOut(BaseModel):
    audience: list[str]
    jurisdiction: dict[str, Any]
    groups: list[str]
    topics: list[str]
    expired: bool


class ReachOut(BaseModel):
    """Who would be reached, without contact details."""

    total: int
    by_area: dict[str, int]
    by_kind: dict[str, int]
    sample: list[str] = Field(description="部分订阅用户编号（不含联系方式）")


class ReviewOut(BaseModel):
    doc_id: str
    version: str
    title: str
    doc_number: str | None
    labels: LabelsOut
    evidence: dict[str, str]
    confidence: float | None
    reasons: list[str] = Field(description="待审核的原因")
    reach: ReachOut
    corrected: bool
    created: str


class ReviewListOut(BaseModel):
    total: int
    items: list[ReviewOut]


class DecisionOut(BaseModel):
    doc_id: str
    version: str
    status: str
    released: int = Field(0, description="转为待发送的推送条数")
    deleted: int = Field(0, description="删除的推送条数")
    held: int = Field(0, description="仍待审核的推送条数")


class PreviewIn(BaseModel):
    model_config = _STRICT
    doc_id: str | None = Field(None, description="政策库中的文件编号")
    document: dict[str, Any] | None = Field(None, description="尚未导入的文件（格式同导入接口的 documents 元素）")


class SampleReason(BaseModel):
    profile_id: str
    reason: str


class PreviewOut(BaseModel):
    doc_id: str
    labels: LabelsOut
    evidence: dict[str, str]
    confidence: float | None
    review_reasons: list[str] = Field(description="按当前设置需人工审核的原因；为空则自动发送")
    reach: ReachOut
    sample_reasons: list[SampleReason]
