"""Push use cases behind the routes: subscribe from the form (checked field by field), back-fill,
plan on request or after an ingest, deliver now.

Profiles hold personal data (contact details, self-description); they are never logged:
log lines name profile ids only. Errors are `ApiError`s with a Chinese message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from corpus import regions
from corpus.push.profiles import Profile
from corpus.push.taxonomy import GROUPS, KIND_LABELS, TOPICS, Audience
from corpus.regions import MUNICIPALITIES, PROVINCES
from qa_service.errors import ApiError, ErrorCode
from qa_service.push.delivery import DeliveryReport, deliver
from qa_service.push.gate import ReviewPolicy
from qa_service.push.planner import (
    Labeller,
    PlanResult,
    backfill,
    default_labeller,
    document_version,
    plan,
    plan_pending,
)
from qa_service.push.records import CHANNEL_LABELS, Contact, ContactChannel, Subscriber, new_profile_id
from qa_service.push.schemas import ContactIn, ProfileIn
from qa_service.schemas import DOC_ID, check_text
from qa_service.state import AppState

logger = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 500
MAX_PLAN_DOCS = 500

# Provinces, cities and districts are checked against the national division table (corpus.regions,
# GB/T 2260); streets for form only (their list lives in ../shared, not needed at run time).
_PLACE = re.compile(r"^[\u4e00-\u9fff·]{2,30}$")
_CITY_SUFFIX = ("市", "州", "盟", "地区")
_DISTRICT_SUFFIX = ("区", "县", "市", "旗")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}$")
_CHANNEL_ALIASES = {"站内信": "inbox", "短信": "sms", "手机": "sms", "邮件": "email", "电子邮件": "email"}


# -- the subscription form ---------------------------------------------------------------------
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
    if city is not None and province is not None and regions.city_named(city, province) is None:
        raise _invalid(f"城市“{city}”不是{province}的地级行政区，请填写全称，例如“济南市”“恩施土家族苗族自治州”。")
    if district is not None and province is not None and city is not None:
        county = regions.county_named(district, province, city)
        if county is not None:
            district = county.name  # a former name (济阳县) becomes today's (济阳区)
        elif regions.counties_of(province, city):  # cities without counties (中山市) take any name
            raise _invalid(f"区县“{district}”不是{city}的区县，请填写全称，例如“历城区”“平阴县”。")
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


# -- subscriptions ------------------------------------------------------------------------------
def subscribe(state: AppState, body: ProfileIn) -> tuple[Subscriber, str]:
    """Store a new profile and back-fill it; returns the subscriber and its one-time token."""
    profile, contact = build_profile(body, new_profile_id())
    token = state.push_store.create_profile(profile, contact)
    sub = state.push_store.get_profile(profile.profile_id)
    assert sub is not None
    logger.info("push profile %s created (%s, %d groups, %d topics)", profile.profile_id, profile.kind.value,
                len(profile.groups), len(profile.topics))  # fmt: skip
    backfill_profile(state, profile)
    return sub, token


def update_subscription(state: AppState, sub: Subscriber, body: ProfileIn) -> Subscriber:
    """Replace `sub`'s profile with the form's; new interests bring the policies in force that match them."""
    profile, contact = build_profile(body, sub.profile.profile_id)
    if not state.push_store.update_profile(profile, contact):
        raise ApiError(ErrorCode.TOKEN_INVALID)
    logger.info("push profile %s updated", profile.profile_id)
    backfill_profile(state, profile)  # new interests bring the policies in force that match them
    updated = state.push_store.get_profile(profile.profile_id)
    assert updated is not None
    return updated


def unsubscribe(state: AppState, sub: Subscriber) -> bool:
    deleted = state.push_store.delete_profile(sub.profile.profile_id)
    logger.info("push profile %s deleted", sub.profile.profile_id)
    return deleted


# -- planning ---------------------------------------------------------------------------------
def labeller(state: AppState) -> Labeller:
    """The state's labeller, imported on first use; 503 `PUSH_UNAVAILABLE` when it cannot be."""
    if state.push_labeller is not None:
        return state.push_labeller
    try:
        # learned topics and audience with a confidence when the served index has the models' e5 encoder
        state.push_labeller = default_labeller(getattr(state.snapshot().index, "encoder", None))
    except ImportError as exc:
        logger.error("%s", exc)
        raise ApiError(ErrorCode.PUSH_UNAVAILABLE, "推送标注模块未就绪，暂时无法生成推送，请联系运维人员。") from None
    return state.push_labeller


def review_policy(state: AppState) -> ReviewPolicy | None:
    """The review gate of the settings (先审后发), or None when `push_review` is off: every match is sent."""
    s = state.settings
    return ReviewPolicy(s.push_auto_threshold, s.push_review_min_profiles) if s.push_review else None


def backfill_profile(state: AppState, profile: Profile) -> None:
    """Queue the policies in force that already concern `profile`; the next delivery sends them.

    Never fails the subscription: without a labeller the resident simply gets only new policies.
    """
    if not state.settings.push_backfill:
        return
    try:
        docs = list(state.snapshot().index.documents.values())
        backfill(state.push_store, profile, docs, labeller(state), state.push_labels, review_policy(state))
    except Exception as exc:  # ApiError from a missing labeller included
        logger.warning("push backfill for profile %s failed (%s)", profile.profile_id, type(exc).__name__)


def plan_requested(state: AppState, doc_ids: list[str] | None) -> PlanResult:
    """Plan `doc_ids`, or, when none are given, every document ingested and not planned yet."""
    index = state.snapshot().index
    label = labeller(state)
    if not doc_ids:
        return plan_pending(state.push_store, index.get_document, label, review=review_policy(state))
    if len(doc_ids) > MAX_PLAN_DOCS:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"一次最多为 {MAX_PLAN_DOCS} 个文件生成推送。")
    if any(not isinstance(i, str) or not DOC_ID.match(i) for i in doc_ids):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    docs = [index.get_document(i) for i in dict.fromkeys(doc_ids)]
    missing = [i for i, d in zip(dict.fromkeys(doc_ids), docs, strict=True) if d is None]
    if missing:
        shown = "、".join(_shown(i) for i in missing[:5])
        raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND, f"以下文件不存在：{shown}。")
    docs_found = [d for d in docs if d is not None]
    return plan(state.push_store, docs_found, label, None, index.get_document, review=review_policy(state))


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
        return plan(state.push_store, docs, labeller(state), None, index.get_document, revised, review_policy(state))
    except Exception as exc:  # ApiError from a missing labeller included
        logger.warning(
            "push planning after ingest failed (%s); %d documents stay queued", type(exc).__name__, len(docs)
        )
        return None


# -- delivery ---------------------------------------------------------------------------------
def deliver_now(state: AppState, limit: int) -> DeliveryReport:
    """Send up to `limit` due messages through the state's channel, with the configured retries."""
    s = state.settings
    return deliver(
        state.push_store,
        state.push_channel,
        limit,
        max_attempts=s.push_max_attempts,
        retry_seconds=s.push_retry_seconds,
        lease_seconds=s.push_lease_seconds,
    )
