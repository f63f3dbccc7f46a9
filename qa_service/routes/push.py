"""Precise push over HTTP: the taxonomy, subscriber profiles (Bearer token), the inbox, and admin jobs.

Profiles hold personal data (contact details, self-description). Only the owner (the token
returned once at creation) and the admin key may read them, and they are never logged:
log lines name profile ids only.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from corpus.metadata import MUNICIPALITIES, PROVINCES
from corpus.profiles import Profile
from corpus.targeting import GROUPS, TOPICS, Audience
from qa_service.errors import ApiError, ErrorCode
from qa_service.push_jobs import (
    Labeller,
    PlanResult,
    backfill,
    default_labeller,
    deliver,
    document_version,
    plan,
    plan_pending,
)
from qa_service.push_store import Contact, ContactChannel, Subscriber, new_profile_id
from qa_service.routes.deps import StateDep, admin_rate_limit, is_admin, rate_limit, require_admin
from qa_service.routes.documents import _DOC_ID
from qa_service.schemas import check_text
from qa_service.state import AppState

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["精准推送"], dependencies=[Depends(rate_limit)])
admin_router = APIRouter(prefix="/api/admin/push", tags=["管理"], dependencies=[Depends(require_admin)])

_STRICT = ConfigDict(extra="forbid")
_CST = timezone(timedelta(hours=8))

MAX_DESCRIPTION_CHARS = 500
MAX_PLAN_DOCS = 500
MAX_TOKEN_CHARS = 200

# Cities, districts and streets are checked for form only (the full list lives in ../shared,
# which the service must not need at run time); provinces against the one list in corpus.metadata.
_PLACE = re.compile(r"^[\u4e00-\u9fff·]{2,30}$")
_CITY_SUFFIX = ("市", "州", "盟", "地区")
_DISTRICT_SUFFIX = ("区", "县", "市", "旗")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$")
_CHANNEL_ALIASES = {"站内信": "inbox", "短信": "sms", "手机": "sms", "邮件": "email", "电子邮件": "email"}
KIND_LABELS = {"resident": "居民个人", "enterprise": "企业或个体工商户"}
CHANNEL_LABELS = {"inbox": "站内信", "sms": "短信", "email": "电子邮件"}


# -- models ------------------------------------------------------------------------------
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


class StatusOut(BaseModel):
    outbox: dict[str, int]
    profiles: int
    unplanned_documents: int
    failures: list[FailureOut]


# -- validation -------------------------------------------------------------------------------
def _invalid(message: str) -> ApiError:
    return ApiError(ErrorCode.PROFILE_INVALID, message)


def _shown(value: str) -> str:
    """A rejected value echoed back: printable and short."""
    clean = "".join(c for c in value if c.isprintable())
    return clean if len(clean) <= 20 else clean[:20] + "…"


def _place(value: str | None, what: str, suffixes: tuple[str, ...] = ()) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _PLACE.match(value):
        raise _invalid(f"{what}应为 2-30 个汉字的规范名称，例如“{_EXAMPLES[what]}”。")
    if suffixes and not value.endswith(suffixes):
        raise _invalid(f"{what}“{value}”不是规范名称，应以{'、'.join(suffixes)}结尾，例如“{_EXAMPLES[what]}”。")
    return value


_EXAMPLES = {"省份": "山东省", "城市": "济南市", "区县": "历城区", "街道": "洪家楼街道"}


def _region(body: ProfileIn) -> tuple[str | None, str | None, str | None, str | None]:
    province = _place(body.province, "省份")
    city = _place(body.city, "城市", _CITY_SUFFIX)
    district = _place(body.district, "区县", _DISTRICT_SUFFIX)
    street = _place(body.street, "街道")
    if province is not None and province not in PROVINCES:
        raise _invalid(f"省份“{province}”不正确，请填写省级行政区全称，例如“山东省”“北京市”“广西壮族自治区”。")
    if province in MUNICIPALITIES:
        if city is None and (district or street):
            city = province  # the push-dev convention: a municipality is its own city
        elif city is not None and city != province:
            raise _invalid(f"直辖市的城市应填写为“{province}”。")
    if city is not None and province is None:
        raise _invalid("填写城市时请同时填写省份。")
    if district is not None and city is None:
        raise _invalid("填写区县时请同时填写省份和城市。")
    if street is not None and city is None:
        raise _invalid("填写街道时请同时填写省份和城市。")
    return province, city, district, street


def _choices(values: list[str], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        v = v.strip() if isinstance(v, str) else v
        if v not in allowed:
            raise _invalid(f"{what}“{_shown(str(v))}”不在可选范围内。可选：{'、'.join(allowed)}。")
        if v not in out:
            out.append(v)
    return tuple(out)


def _contact(body: ContactIn | None) -> Contact:
    if body is None:
        return Contact()
    raw = body.channel.strip()
    try:
        channel = ContactChannel.from_str(_CHANNEL_ALIASES.get(raw, raw))
    except ValueError:
        allowed = "、".join(f"{k}（{v}）" for k, v in CHANNEL_LABELS.items())
        raise _invalid(f"接收渠道“{_shown(raw)}”不正确，可选：{allowed}。") from None
    address = (body.address or "").strip()
    if channel is ContactChannel.INBOX:
        if address:
            raise _invalid("站内信无需填写联系地址。")
        return Contact()
    if channel is ContactChannel.SMS:
        digits = re.sub(r"[\s-]", "", address)
        digits = digits[3:] if digits.startswith("+86") else digits
        if not _MOBILE.match(digits):
            raise _invalid("手机号格式不正确，请填写 11 位中国大陆手机号。")
        return Contact(channel, digits)
    if len(address) > 254 or not _EMAIL.match(address):
        raise _invalid("电子邮箱格式不正确，例如 name@example.com。")
    return Contact(channel, address)


def build_profile(body: ProfileIn, profile_id: str) -> tuple[Profile, Contact]:
    """Checks every field of a profile request; raises ApiError with a Chinese message."""
    try:
        kind = Audience.from_str(body.kind)
    except ValueError:
        allowed = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
        raise _invalid(f"订阅类型“{_shown(body.kind)}”不正确，可选：{allowed}。") from None
    province, city, district, street = _region(body)
    groups = _choices(body.groups, GROUPS, "群体")
    topics = _choices(body.topics, TOPICS, "主题")
    if not groups and not topics:
        raise _invalid("请至少选择一个所属群体或关注主题。")
    description = ""
    if body.description is not None and body.description.strip():
        description = check_text(
            body.description,
            max_chars=MAX_DESCRIPTION_CHARS,
            empty=ErrorCode.PROFILE_INVALID,
            too_long=ErrorCode.PROFILE_INVALID,
            what="自我描述",
        )
    profile = Profile(profile_id, kind, province, city, district, street, groups, topics, description)
    return profile, _contact(body.contact)


# -- auth ---------------------------------------------------------------------------------------
def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization") or ""
    if not auth.lower().startswith("bearer "):
        return None
    return auth[7:].strip() or None


def current_subscriber(request: Request, state: StateDep) -> Subscriber:
    token = _bearer(request)
    if token is None:
        raise ApiError(ErrorCode.TOKEN_MISSING)
    sub = state.push_store.profile_by_token(token) if _TOKEN.match(token) else None
    if sub is None:
        raise ApiError(ErrorCode.TOKEN_INVALID)
    return sub


SubscriberDep = Annotated[Subscriber, Depends(current_subscriber)]


def _is_admin(request: Request, state: AppState) -> bool:
    if request.headers.get("x-api-key"):
        admin_rate_limit(request)  # an admin-key attempt: slowed like on the admin routes
    return is_admin(request, state.settings)


# -- output -------------------------------------------------------------------------------------
def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, _CST).isoformat(timespec="seconds")


def _profile_out(sub: Subscriber) -> dict[str, Any]:
    p = sub.profile
    return {
        **p.to_dict(),
        "contact": {"channel": sub.contact.channel.value, "address": sub.contact.address},
        "created": _iso(sub.created),
        "updated": _iso(sub.updated),
    }


# -- public routes --------------------------------------------------------------------------------
@router.get("/push/taxonomy", response_model=TaxonomyOut, summary="订阅表单的可选群体、主题、类型与接收渠道")
def taxonomy() -> TaxonomyOut:
    return TaxonomyOut(
        groups=list(GROUPS),
        topics=list(TOPICS),
        kinds=[Choice(value=k, label=v) for k, v in KIND_LABELS.items()],
        channels=[Choice(value=k, label=v) for k, v in CHANNEL_LABELS.items()],
        provinces=list(PROVINCES),
    )


@router.post("/profiles", response_model=ProfileCreated, status_code=201, summary="订阅政策推送（返回一次性凭证）")
def create_profile(body: ProfileIn, state: StateDep) -> ProfileCreated:
    profile, contact = build_profile(body, new_profile_id())
    token = state.push_store.create_profile(profile, contact)
    sub = state.push_store.get_profile(profile.profile_id)
    assert sub is not None
    logger.info("push profile %s created (%s, %d groups, %d topics)", profile.profile_id, profile.kind.value,
                len(profile.groups), len(profile.topics))  # fmt: skip
    _backfill(state, profile)
    return ProfileCreated(
        **_profile_out(sub), token=token, notice="请妥善保存订阅凭证，它只显示这一次，用于查看、修改或注销本人订阅。"
    )


@router.get("/profiles/me", response_model=ProfileOut, summary="查看本人订阅（Bearer 凭证）")
def get_me(sub: SubscriberDep) -> ProfileOut:
    return ProfileOut(**_profile_out(sub))


@router.put("/profiles/me", response_model=ProfileOut, summary="修改本人订阅（整体替换）")
def update_me(body: ProfileIn, sub: SubscriberDep, state: StateDep) -> ProfileOut:
    profile, contact = build_profile(body, sub.profile.profile_id)
    if not state.push_store.update_profile(profile, contact):
        raise ApiError(ErrorCode.TOKEN_INVALID)
    logger.info("push profile %s updated", profile.profile_id)
    _backfill(state, profile)  # new interests bring the policies in force that match them
    updated = state.push_store.get_profile(profile.profile_id)
    assert updated is not None
    return ProfileOut(**_profile_out(updated))


@router.delete("/profiles/me", summary="注销本人订阅（删除画像、待发消息和站内信）")
def delete_me(sub: SubscriberDep, state: StateDep) -> dict[str, bool]:
    deleted = state.push_store.delete_profile(sub.profile.profile_id)
    logger.info("push profile %s deleted", sub.profile.profile_id)
    return {"deleted": deleted}


@router.get("/profiles/me/inbox", response_model=InboxOut, summary="本人收到的政策推送（含推送理由）")
def inbox(
    sub: SubscriberDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> InboxOut:
    total, items = state.push_store.inbox(sub.profile.profile_id, limit, offset)
    return InboxOut(
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
                delivered=_iso(i.delivered),
            )
            for i in items
        ],
    )


@router.get("/profiles/{profile_id}", response_model=ProfileOut, summary="查看指定订阅（本人凭证或管理密钥）")
def get_profile(profile_id: str, request: Request, state: StateDep) -> ProfileOut:
    if not _is_admin(request, state):
        # Checked before looking the id up, so a stranger learns nothing about which ids exist.
        if request.headers.get("x-api-key"):
            raise ApiError(ErrorCode.UNAUTHORIZED)
        if current_subscriber(request, state).profile.profile_id != profile_id:
            raise ApiError(ErrorCode.FORBIDDEN)
    sub = state.push_store.get_profile(profile_id) if len(profile_id) <= 100 else None
    if sub is None:
        raise ApiError(ErrorCode.NOT_FOUND, "未找到该订阅。")
    return ProfileOut(**_profile_out(sub))


# -- admin routes ----------------------------------------------------------------------------------
def _labeller(state: AppState) -> Labeller:
    if state.push_labeller is not None:
        return state.push_labeller
    try:
        state.push_labeller = default_labeller()
    except ImportError as exc:
        logger.error("%s", exc)
        raise ApiError(ErrorCode.PUSH_UNAVAILABLE, "推送标注模块未就绪，暂时无法生成推送，请联系运维人员。") from None
    return state.push_labeller


def _backfill(state: AppState, profile: Profile) -> None:
    """Queue the policies in force that already concern `profile`; the next delivery sends them.

    Never fails the subscription: without a labeller the resident simply gets only new policies.
    """
    if not state.settings.push_backfill:
        return
    try:
        docs = list(state.snapshot().index.documents.values())
        backfill(state.push_store, profile, docs, _labeller(state), state.push_labels)
    except Exception as exc:  # ApiError from a missing labeller included
        logger.warning("push backfill for profile %s failed (%s)", profile.profile_id, type(exc).__name__)


def _plan_out(r: PlanResult) -> PlanOut:
    return PlanOut(
        documents=r.documents, enqueued=r.enqueued, revised=list(r.revised), skipped=r.skipped, errors=r.errors
    )


@admin_router.post("/plan", response_model=PlanOut, summary="为新增或修订的文件生成推送（不重复）")
def plan_route(state: StateDep, body: PlanIn | None = None) -> PlanOut:
    index = state.snapshot().index
    labeller = _labeller(state)
    if body is None or not body.doc_ids:
        return _plan_out(plan_pending(state.push_store, index.get_document, labeller))
    if len(body.doc_ids) > MAX_PLAN_DOCS:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"一次最多为 {MAX_PLAN_DOCS} 个文件生成推送。")
    if any(not isinstance(i, str) or not _DOC_ID.match(i) for i in body.doc_ids):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    docs = [index.get_document(i) for i in dict.fromkeys(body.doc_ids)]
    missing = [i for i, d in zip(dict.fromkeys(body.doc_ids), docs, strict=True) if d is None]
    if missing:
        shown = "、".join(_shown(i) for i in missing[:5])
        raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND, f"以下文件不存在：{shown}。")
    return _plan_out(plan(state.push_store, [d for d in docs if d is not None], labeller, None, index.get_document))


@admin_router.post("/deliver", response_model=DeliverOut, summary="发送待发推送（中断后重跑只发剩余的）")
def deliver_route(state: StateDep, body: DeliverIn | None = None) -> DeliverOut:
    s = state.settings
    report = deliver(
        state.push_store,
        state.push_channel,
        (body or DeliverIn()).limit,
        max_attempts=s.push_max_attempts,
        retry_seconds=s.push_retry_seconds,
        lease_seconds=s.push_lease_seconds,
    )
    return DeliverOut(
        sent=report.sent,
        retrying=report.retrying,
        failed=report.failed,
        failures=[
            FailureOut(
                key=f.key, profile_id=f.profile_id, doc_id=f.doc_id, attempts=f.attempts, error=f.error, final=f.final
            )  # fmt: skip
            for f in report.failures
        ],
    )


@admin_router.get("/status", response_model=StatusOut, summary="推送状态：各状态条数与发送失败明细")
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


@admin_router.post("/requeue-failed", summary="把发送失败的推送重新排队（渠道故障排除后）")
def requeue_route(state: StateDep) -> dict[str, int]:
    return {"requeued": state.push_store.requeue_failed()}


# -- after an admin ingest ---------------------------------------------------------------------------
def plan_ingested(state: AppState, doc_ids: list[str], before: Any) -> PlanResult | None:
    """Queue and plan pushes for freshly ingested documents; `before` is the index they replaced.

    Never raises: the ingest has succeeded by then, and documents that could not be planned
    stay queued for `POST /api/admin/push/plan`.
    """
    index = state.snapshot().index
    docs = [d for i in doc_ids if (d := index.get_document(i)) is not None]
    revised = set()
    for d in docs:
        old = before.get_document(d.id)
        if old is not None and document_version(old) != document_version(d):
            revised.add(d.id)
    try:
        state.push_store.note_documents((d.id, document_version(d), d.id in revised) for d in docs)
        if not state.settings.push_plan_on_ingest:
            return None
        return plan(state.push_store, docs, _labeller(state), None, index.get_document, revised)
    except Exception as exc:  # ApiError from a missing labeller included
        logger.warning(
            "push planning after ingest failed (%s); %d documents stay queued", type(exc).__name__, len(docs)
        )
        return None
