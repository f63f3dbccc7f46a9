"""Request and response models of the push routes, and how the service's records become responses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from corpus.push.taxonomy import GROUPS, TOPICS
from qa_service.push.delivery import DeliveryReport
from qa_service.push.preferences import format_clock
from qa_service.push.records import Contact, InboxItem, Subscriber

_STRICT = ConfigDict(extra="forbid")
_CST = timezone(timedelta(hours=8))


def iso_time(ts: float) -> str:
    """A stored timestamp as China Standard Time, to the second."""
    return datetime.fromtimestamp(ts, _CST).isoformat(timespec="seconds")


class ContactIn(BaseModel):
    """The original form's single channel; `PreferencesIn.channels` supersedes it."""

    model_config = _STRICT
    channel: str = Field("inbox", description="inbox（站内信）、sms（短信）或 email（电子邮件）")
    address: str | None = Field(None, description="手机号或电子邮箱；站内信不填")


class PreferencesIn(BaseModel):
    """Several channels with their addresses, and when to be told. Without `channels` the channel is the
    one `contact` names (the original form)."""

    model_config = _STRICT
    channels: list[str] | None = Field(
        None,
        max_length=8,
        description="接收渠道（可多选）：inbox、email、sms、webhook；总含站内信；仅可选本服务已开通的渠道",
    )
    email: str | None = Field(None, max_length=300, description="电子邮箱（选择 email 时必填）")
    phone: str | None = Field(None, max_length=30, description="11 位手机号（选择 sms 时必填）")
    webhook_url: str | None = Field(None, max_length=2000, description="接收推送的 https 地址（选择 webhook 时必填）")
    delivery_mode: str | None = Field(None, description="immediate（即时推送，默认）或 digest（每日汇总）")
    quiet_start: str | None = Field(None, max_length=10, description="免打扰开始时间（北京时间），例如 22:00")
    quiet_end: str | None = Field(None, max_length=10, description="免打扰结束时间（北京时间），例如 07:30")
    daily_cap: int | None = Field(None, description="每日最多推送条数，1–50；不填为不限")


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
    preferences: PreferencesIn | None = None


class ContactOut(BaseModel):
    channel: str
    address: str | None


class PreferencesOut(BaseModel):
    channels: list[str]
    email: str | None
    phone: str | None
    webhook_url: str | None
    webhook_secret: str | None = Field(description="Webhook 签名密钥的掩码；完整密钥只在生成时显示一次")
    delivery_mode: str
    quiet_start: str | None
    quiet_end: str | None
    daily_cap: int | None

    @classmethod
    def of(cls, c: Contact) -> PreferencesOut:
        def clock(minute: int | None) -> str | None:
            return format_clock(minute) if minute is not None else None

        secret = c.webhook_secret
        return cls(
            channels=list(c.channels),
            email=c.email,
            phone=c.phone,
            webhook_url=c.webhook_url,
            # enough to tell which secret it is, never enough to sign with
            webhook_secret=secret[:6] + "…" + secret[-4:] if secret else None,
            delivery_mode=c.delivery_mode,
            quiet_start=clock(c.quiet_start),
            quiet_end=clock(c.quiet_end),
            daily_cap=c.daily_cap,
        )


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
    preferences: PreferencesOut
    created: str
    updated: str

    @classmethod
    def of(cls, sub: Subscriber, **extra: Any) -> Self:
        return cls(
            **sub.profile.to_dict(),
            contact={"channel": sub.contact.channel.value, "address": sub.contact.address},
            preferences=PreferencesOut.of(sub.contact),
            created=iso_time(sub.created),
            updated=iso_time(sub.updated),
            **extra,
        )


class ProfileCreated(ProfileOut):
    token: str = Field(description="订阅凭证，只显示这一次；之后以 Authorization: Bearer <凭证> 访问本人订阅")
    notice: str
    webhook_secret: str | None = Field(
        None, description="Webhook 签名密钥（HMAC-SHA256），只在选择 webhook 时返回这一次；之后只显示掩码"
    )


class ProfileUpdated(ProfileOut):
    webhook_secret: str | None = Field(
        None, description="本次修改新生成的 Webhook 签名密钥（首次选择 webhook 时），只显示这一次"
    )
    notice: str | None = None


WEBHOOK_SECRET_NOTICE = "请妥善保存 Webhook 签名密钥，它只显示这一次，用于校验推送请求的 X-Push-Signature 签名。"


class InboxItemOut(BaseModel):
    key: str = Field(description="消息编号；打开后 POST /api/push/inbox/{key}/read 标记已读")
    doc_id: str
    title: str
    doc_number: str | None
    link: str
    reason: str
    evidence: list[str]
    revised: bool
    delivered: str
    read: bool = False
    read_at: str | None = None

    @classmethod
    def of(cls, i: InboxItem) -> InboxItemOut:
        return InboxOut.of(1, [i]).items[0]


class InboxOut(BaseModel):
    total: int
    unread: int | None = None
    items: list[InboxItemOut]

    @classmethod
    def of(cls, total: int, items: list[InboxItem], unread: int | None = None) -> InboxOut:
        return cls(
            total=total,
            unread=unread,
            items=[
                InboxItemOut(
                    key=i.key,
                    doc_id=i.doc_id,
                    title=i.title,
                    doc_number=i.doc_number,
                    link=i.link,
                    reason=i.reason,
                    evidence=list(i.evidence),
                    revised=i.revised,
                    delivered=iso_time(i.delivered),
                    read=i.read_at is not None,
                    read_at=iso_time(i.read_at) if i.read_at is not None else None,
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
    available_channels: list[Choice] = Field(
        default_factory=list, description="本服务已开通、订阅时可在 channels 中选择的接收渠道"
    )
    delivery_modes: list[Choice] = Field(default_factory=list, description="推送方式：即时推送或每日汇总")
    max_daily_cap: int = 50


class PlanIn(BaseModel):
    model_config = _STRICT
    doc_ids: list[str] | None = Field(None, description="要推送的文件编号；不填则推送上次以来导入、尚未推送的文件")


class DeliverIn(BaseModel):
    model_config = _STRICT
    limit: int = Field(100, ge=1, le=10_000, description="本次最多发送的条数")


class FailureOut(BaseModel):
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str | None
    final: bool = True  # dead-lettered
    channel: str = "inbox"


class DocumentStatusOut(BaseModel):
    """One document on one channel: rows held for review, pending, sent, failed (retrying), dead-lettered."""

    doc_id: str
    channel: str
    held: int
    pending: int
    sent: int
    failed: int
    dead: int


class RequeueIn(BaseModel):
    model_config = _STRICT
    doc_id: str | None = Field(None, max_length=300, description="只重发该文件的死信（不填：全部）")
    channel: str | None = Field(None, description="只重发该渠道的死信：inbox、webhook、email、sms")


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
                    channel=f.channel,
                )  # fmt: skip
                for f in report.failures
            ],
        )


class StatusOut(BaseModel):
    outbox: dict[str, int]  # held, pending, sent, failed (pending after a failed attempt), dead
    profiles: int
    unplanned_documents: int
    failures: list[FailureOut]  # dead-lettered rows, newest first
    documents: list[DocumentStatusOut] = []  # per document and channel, newest documents first


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


class SuggestIn(BaseModel):
    model_config = _STRICT
    description: str = Field(description="自我描述，例如“我今年六十八岁，退休后一个人住”；只用于推测，不保存")


class SuggestionOut(BaseModel):
    name: str = Field(description="群体或主题（见分类表）")
    probability: float = Field(description="模型估计的概率，0–1")
    evidence: str = Field("", description="自我描述中提到它的词语")


class SuggestOut(BaseModel):
    groups: list[SuggestionOut] = Field(description="推测的所属群体，按概率从高到低")
    topics: list[SuggestionOut] = Field(description="推测的关注主题，按概率从高到低")
    topic_source: str = Field(description="model（主题模型）或 rules（关键词规则）")
    notice: str = "以下为根据自我描述推测的群体和主题，仅供参考，请确认后自行勾选；系统不会自动添加。"

    @classmethod
    def of(cls, groups: list[Any], topics: list[Any], source: str) -> Self:
        """From `corpus.push.suggest.Suggestion`s."""

        def out(items: list[Any]) -> list[SuggestionOut]:
            return [SuggestionOut(name=s.name, probability=round(s.probability, 3), evidence=s.evidence) for s in items]

        return cls(groups=out(groups), topics=out(topics), topic_source=source)


class StreetOut(BaseModel):
    code: str = Field(description="9 位统计用区划代码，例如 370112001")
    name: str = Field(description="例如 洪家楼街道")


class StreetsOut(BaseModel):
    province: str
    city: str | None
    district: str
    district_code: str = Field(description="6 位行政区划代码（GB/T 2260）")
    listed: bool = Field(description="true：街道须从 streets 中选择；false：无列表，直接填写街道名称")
    streets: list[StreetOut]
    notice: str | None = None
