"""Push use cases behind the routes: subscribe from the form (checked field by field), back-fill,
plan (as a background job, `qa_service.push.jobs`) on request or after an ingest, deliver now.

Profiles hold personal data (contact details, self-description); they are never logged:
log lines name profile ids only. Errors are `ApiError`s with a Chinese message.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from corpus import regions
from corpus.push.learned import shipped_group_model, shipped_match_model
from corpus.push.profiles import Profile
from corpus.push.suggest import Suggestion
from corpus.push.suggest import suggest_interests as suggest_from_description
from corpus.push.taxonomy import GROUPS, KIND_LABELS, TOPICS, Audience
from corpus.regions import MUNICIPALITIES, PROVINCES
from corpus.streets import StreetTable
from qa_service.errors import ApiError, ErrorCode
from qa_service.privacy import mask_personal
from qa_service.push.contact_form import Offered, contact_from_form
from qa_service.push.delivery import DeliveryReport, deliver
from qa_service.push.gate import ReviewPolicy
from qa_service.push.jobs import Planning
from qa_service.push.planner import DocVector, Labeller, backfill, default_labeller, document_version
from qa_service.push.preferences import TokenError, verify_unsubscribe_token
from qa_service.push.records import CHANNELS, Contact, InboxItem, Subscriber, new_profile_id
from qa_service.push.schemas import ProfileIn
from qa_service.push.streets import checked_street, street_table
from qa_service.push.vectors import DescriptionVector, document_vector, encode_descriptions
from qa_service.schemas import DOC_ID, check_text
from qa_service.state import AppState

logger = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 500
MAX_PLAN_DOCS = 500

# Provinces, cities and districts are checked against the national division table (corpus.regions,
# GB/T 2260); streets against the district's towns (corpus.streets via qa_service.push.streets) when
# that table is installed (`make regions`), else for form only.
_PLACE = re.compile(r"^[\u4e00-\u9fff·]{2,30}$")
_CITY_SUFFIX = ("市", "州", "盟", "地区")
_DISTRICT_SUFFIX = ("区", "县", "市", "旗")


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


def _region(body: ProfileIn, towns: StreetTable | None = None) -> tuple[str | None, str | None, str | None, str | None]:
    province = _place(body.province, "省份")
    city = _place(body.city, "城市", _CITY_SUFFIX)
    district = _place(body.district, "区县", _DISTRICT_SUFFIX)
    typed = body.street.strip() if body.street else ""
    # official names may hold brackets or rare characters (八五〇农场, 湖㳇镇): the list, not the form check, decides
    street = typed if towns is not None and towns.has_name(typed) else _place(body.street, "街道")
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
            street = checked_street(towns, county, street)
        elif regions.counties_of(province, city):  # cities without counties (中山市) take any name
            raise _invalid(f"区县“{district}”不是{city}的区县，请填写全称，例如“历城区”“平阴县”。")
    if street is not None and district is None and towns is not None and regions.counties_of(province or "", city):
        raise _invalid("填写街道时请同时填写区县，并从该区县的街道（乡镇）列表中选择。")
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


def offered_channels(state: AppState) -> Offered:
    """The channels this deployment sends through (the form may offer only these), with the webhook's checks."""
    channels = state.push_channels if state.push_channels is not None else {"inbox": state.push_channel}
    webhook = channels.get("webhook")
    return Offered(frozenset(channels) | {"inbox"}, getattr(webhook, "config", None))


def build_profile(
    body: ProfileIn, profile_id: str, offered: Offered | None = None, towns: StreetTable | None = None
) -> tuple[Profile, Contact]:
    """Checks every field of a profile request; raises ApiError with a Chinese message.

    `offered`: the channels the newer form may name (default: the inbox only); `towns`: the street
    table the street must be in (default None: any well-formed street, as without `make regions`)."""
    try:
        kind = Audience.from_str(body.kind)
    except ValueError:
        allowed = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
        raise _invalid(f"订阅类型“{_shown(body.kind)}”不正确，可选：{allowed}。") from None
    province, city, district, street = _region(body, towns)
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
    return profile, contact_from_form(body.contact, body.preferences, offered)


# -- subscriptions ------------------------------------------------------------------------------
def subscribe(state: AppState, body: ProfileIn) -> tuple[Subscriber, str]:
    """Store a new profile and back-fill it; returns the subscriber and its one-time token.

    A webhook subscription's signing secret is `sub.contact.webhook_secret`: the route shows it
    this once, and later answers only mask it."""
    profile, contact = build_profile(body, new_profile_id(), offered_channels(state), street_table(state.settings))
    vector = description_vector(state, profile)
    token = state.push_store.create_profile(profile, contact, vector=vector)
    state.push_profile_saved(profile, vector)
    sub = state.push_store.get_profile(profile.profile_id)
    assert sub is not None
    logger.info("push profile %s created (%s, %d groups, %d topics)", profile.profile_id, profile.kind.value,
                len(profile.groups), len(profile.topics))  # fmt: skip
    backfill_profile(state, profile)
    return sub, token


def update_subscription(state: AppState, sub: Subscriber, body: ProfileIn) -> tuple[Subscriber, str | None]:
    """Replace `sub`'s profile with the form's; new interests bring the policies in force that match them.

    Returns the stored subscriber, and the webhook secret when this edit made one (the first time a
    webhook is chosen), for the route to show once."""
    profile, contact = build_profile(
        body, sub.profile.profile_id, offered_channels(state), street_table(state.settings)
    )
    vector = description_vector(state, profile)
    if not state.push_store.update_profile(profile, contact, vector=vector):
        raise ApiError(ErrorCode.TOKEN_INVALID)
    state.push_profile_saved(profile, vector)
    logger.info("push profile %s updated", profile.profile_id)
    backfill_profile(state, profile)  # new interests bring the policies in force that match them
    updated = state.push_store.get_profile(profile.profile_id)
    assert updated is not None
    secret = updated.contact.webhook_secret
    return updated, secret if secret and secret != sub.contact.webhook_secret else None


def unsubscribe(state: AppState, sub: Subscriber) -> bool:
    deleted = state.push_store.delete_profile(sub.profile.profile_id)
    state.push_profile_deleted(sub.profile.profile_id)
    logger.info("push profile %s deleted", sub.profile.profile_id)
    return deleted


def read_inbox_item(state: AppState, sub: Subscriber, key: str) -> InboxItem:
    """The resident opened an inbox item: mark it read (the first time) and return it."""
    item = state.push_store.mark_read(sub.profile.profile_id, key, time.time()) if len(key) <= 200 else None
    if item is None:
        raise ApiError(ErrorCode.NOT_FOUND, "未找到这条消息。")
    return item


# -- one-click unsubscribe (the signed link in every e-mail, SMS and webhook payload; no login) ----
def _link_profile(state: AppState, token: str) -> str:
    """The profile a link was signed for; ApiError when links are off or the token is forged or expired."""
    secret = state.settings.push_unsubscribe_secret
    if secret is None:
        # No secret: no channel that sends links is built, so no link was ever issued and none can be valid.
        raise ApiError(ErrorCode.TOKEN_INVALID, "退订链接无效，请使用订阅凭证注销订阅，或联系运维人员。")
    try:
        return verify_unsubscribe_token(secret.get_secret_value(), token, time.time())
    except TokenError as exc:
        message = "退订链接已过期" if exc.reason == "expired" else "退订链接无效"
        raise ApiError(
            ErrorCode.TOKEN_INVALID, f"{message}，请使用最近一条推送中的退订链接，或用订阅凭证注销订阅。"
        ) from None


def unsubscribe_link_target(state: AppState, token: str) -> bool:
    """Checks the link without changing anything (GET must not unsubscribe: mail scanners follow links).

    True while the subscription exists, False when it is already gone.
    """
    return state.push_store.get_profile(_link_profile(state, token)) is not None


def unsubscribe_by_link(state: AppState, token: str) -> bool:
    """Deletes the link's subscription and everything derived from it; False if it was already gone."""
    profile_id = _link_profile(state, token)
    deleted = state.push_store.delete_profile(profile_id)
    state.push_profile_deleted(profile_id)
    logger.info("push profile %s %s by unsubscribe link", profile_id, "deleted" if deleted else "already gone")
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
    if not s.push_review:
        return None
    # P(match) calibrated out of fold for precision (corpus/resources/push_match.json) when shipped
    return ReviewPolicy(s.push_auto_threshold, s.push_review_min_profiles, shipped_match_model())


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


def plan_requested(state: AppState, doc_ids: list[str] | None) -> int:
    """Queue a planning job for `doc_ids`, or, when none are given, for every document ingested and not
    planned yet; returns the job's id. The ids are checked here (a bad request is answered at once)."""
    labeller(state)  # 503 now, rather than a job that fails, when the labeller cannot be loaded
    if not doc_ids:
        return state.push_jobs.submit(None, "admin")
    if len(doc_ids) > MAX_PLAN_DOCS:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"一次最多为 {MAX_PLAN_DOCS} 个文件生成推送。")
    if any(not isinstance(i, str) or not DOC_ID.match(i) for i in doc_ids):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    index = state.snapshot().index
    ids = list(dict.fromkeys(doc_ids))
    missing = [i for i in ids if index.get_document(i) is None]
    if missing:
        shown = "、".join(_shown(i) for i in missing[:5])
        raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND, f"以下文件不存在：{shown}。")
    return state.push_jobs.submit(ids, "admin")


def plan_ingested(state: AppState, doc_ids: list[str], before: Any) -> int | None:
    """Note freshly ingested documents as waiting to be planned (`before`: the index they replaced, to tell
    a revised text) and, with `push_plan_on_ingest`, queue a job that plans them; returns its id.

    Never raises: the ingest has succeeded by then, and documents not planned stay noted for the next job.
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
        if not state.settings.push_plan_on_ingest or not docs:
            return None
        return state.push_jobs.submit(None, "ingest")
    except Exception as exc:  # the push database away: the ingest stands
        logger.warning("push planning after ingest not queued (%s); %d documents", type(exc).__name__, len(docs))
        return None


def planning(state: AppState) -> Planning:
    """What a planning job of the service plans with: the served index, the labeller, the review gate, the
    columnar matcher with description vectors, the encoder for documents' vectors."""
    index = state.snapshot().index
    matcher = state.push_matcher()
    return Planning(index.get_document, labeller(state), review_policy(state), matcher, doc_vector(state, matcher.dim))


def doc_vector(state: AppState, dim: int) -> DocVector | None:
    """A document's passage vector by the index's encoder, when the matcher holds its description vectors."""
    encoder = state.push_encoder()
    if encoder is None or not dim or encoder.dim != dim:
        return None
    return lambda doc: document_vector(encoder, doc)


def description_vector(state: AppState, profile: Profile) -> DescriptionVector | None:
    """The self-description's vector (as stored: contact details masked); None without a description or
    an encoder. Never fails the subscription: the profile is then matched, only not ranked."""
    text = mask_personal(profile.description) if profile.description else ""
    try:
        [vector] = encode_descriptions(state.push_encoder(), [text])
    except Exception as exc:
        logger.warning("push profile %s: description not encoded (%s)", profile.profile_id, type(exc).__name__)
        return None
    return vector


# -- delivery ---------------------------------------------------------------------------------
def doc_id_or_none(doc_id: str | None) -> str | None:
    """An operator's document filter, checked like every document id."""
    if doc_id is not None and not DOC_ID.match(doc_id):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    return doc_id


def requeue(state: AppState, doc_id: str | None, channel: str | None) -> int:
    """Dead-lettered rows (of one document and/or channel) back to pending, with fresh attempts."""
    doc_id = doc_id_or_none(doc_id)
    if channel is not None and channel not in CHANNELS:
        raise ApiError(ErrorCode.INVALID_REQUEST, f"渠道“{_shown(channel)}”不正确，可选：{'、'.join(CHANNELS)}。")
    n = state.push_store.requeue_dead(doc_id, channel)
    logger.info("push requeue: %d dead-lettered rows (document %s, channel %s)", n, doc_id or "*", channel or "*")
    return n


def deliver_now(state: AppState, limit: int) -> DeliveryReport:
    """Send up to `limit` due messages through the state's channels, with the configured retries."""
    s = state.settings
    return deliver(
        state.push_store,
        state.push_channels if state.push_channels is not None else state.push_channel,
        limit,
        max_attempts=s.push_max_attempts,
        retry_seconds=s.push_retry_seconds,
        lease_seconds=s.push_lease_seconds,
        digest_minute=s.push_digest_minute,
    )


# -- profile suggestions ----------------------------------------------------------------------
def suggest_interests(state: AppState, description: str) -> tuple[list[Suggestion], list[Suggestion], str]:
    """Groups and topics the self-description suggests, for the resident to confirm (never stored,
    never logged): lexicon groups with the shipped group model's probability, keyword topics (they read
    descriptions better than the topic model trained on policies: eval.push_suggest)."""
    text = check_text(description, max_chars=MAX_DESCRIPTION_CHARS, empty=ErrorCode.PROFILE_INVALID,
                      too_long=ErrorCode.PROFILE_INVALID, what="自我描述")  # fmt: skip
    groups, topic_list = suggest_from_description(text, shipped_group_model(), None)
    return groups, topic_list, "rules"
