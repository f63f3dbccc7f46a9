"""The review step's use cases (先审后发): the queue, approve, drop, corrected labels, their export, preview.

Planning holds the pushes of a document that must be reviewed (`qa_service.push.gate`); an
operator sees who they would reach (counts and profile ids, never contact details) and why
they wait, then approves (the held rows become `pending` and the next delivery sends them once),
drops (the held rows are deleted, the decision kept), or corrects the labels (re-matched against
every profile; the correction is kept as a push-dev `doc_labels.jsonl` row for training).
Errors are `ApiError`s with a Chinese message.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from corpus.metadata import PROVINCES
from corpus.models import Document
from corpus.push.matching import match
from corpus.push.profiles import Profile
from corpus.push.targeting import Jurisdiction, JurisdictionLevel, Targeting
from corpus.push.taxonomy import GROUPS, KIND_LABELS, TOPICS, Audience
from qa_service.errors import ApiError, ErrorCode
from qa_service.push.planner import document_version, match_entries
from qa_service.push.records import Review
from qa_service.push.schemas import (
    DecisionOut,
    LabelsIn,
    LabelsOut,
    PreviewOut,
    ReachOut,
    ReviewListOut,
    ReviewOut,
    SampleReason,
    iso_time,
)
from qa_service.push.service import doc_vector, labeller, review_policy
from qa_service.schemas import DOC_ID
from qa_service.state import AppState

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 10
MAX_EVIDENCE_CHARS = 300
_LEVELS = "、".join(f"{v.value}" for v in JurisdictionLevel)


# -- the queue ------------------------------------------------------------------------------------
def waiting(state: AppState, limit: int = 100) -> ReviewListOut:
    """The documents waiting for review, oldest first, each with its labels, reasons and reach."""
    store = state.push_store
    items = store.reviews("waiting", limit)
    total = len(store.reviews("waiting"))
    return ReviewListOut(total=total, items=[_review_out(state, r) for r in items])


def _review_out(state: AppState, r: Review) -> ReviewOut:
    doc = state.snapshot().index.get_document(r.doc_id)
    people = [(row["id"], row["kind"], _area(row["province"], row["city"], row["district"]))
              for row in state.push_store.held_profiles(r.doc_id, r.version)]  # fmt: skip
    return ReviewOut(
        doc_id=r.doc_id,
        version=r.version,
        title=(doc.title if doc else None) or "（无标题）",
        doc_number=doc.doc_number if doc else None,
        labels=_labels_out(r.targeting),
        evidence=dict(r.targeting.evidence),
        confidence=r.targeting.confidence,
        reasons=list(r.reasons),
        reach=_reach(people),
        corrected=r.corrected,
        created=iso_time(r.created),
    )


def _area(province: str | None, city: str | None, district: str | None) -> str:
    parts = [p for p in (province, city if city != province else None, district) if p]
    return "".join(parts) or "未填写地区"


def _reach(people: Iterable[tuple[str, str, str]]) -> ReachOut:
    people = list(people)
    return ReachOut(
        total=len(people),
        by_area=dict(Counter(area for _, _, area in people).most_common()),
        by_kind=dict(Counter(KIND_LABELS.get(kind, kind) for _, kind, _ in people).most_common()),
        sample=[pid for pid, _, _ in people[:SAMPLE_SIZE]],
    )


def _labels_out(t: Targeting) -> LabelsOut:
    return LabelsOut(
        audience=[a.value for a in t.audience],
        jurisdiction=t.jurisdiction.to_dict(),
        groups=list(t.groups),
        topics=list(t.topics),
        expired=t.expired,
    )


def _waiting_review(state: AppState, doc_id: str) -> Review:
    if not isinstance(doc_id, str) or not DOC_ID.match(doc_id):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    r = state.push_store.review(doc_id)
    if r is None or r.status != "waiting":
        raise ApiError(ErrorCode.REVIEW_NOT_FOUND)
    return r


# -- decisions ------------------------------------------------------------------------------------
def approve(state: AppState, doc_id: str) -> DecisionOut:
    """Release the document's held pushes: the next delivery sends each once."""
    r = _waiting_review(state, doc_id)
    released = state.push_store.approve_review(r.doc_id, r.version)
    if released is None:  # decided by someone else meanwhile
        raise ApiError(ErrorCode.REVIEW_NOT_FOUND)
    logger.info("push review: %s (%s) approved, %d messages released", r.doc_id, r.version, released)
    return DecisionOut(doc_id=r.doc_id, version=r.version, status="approved", released=released)


def drop(state: AppState, doc_id: str) -> DecisionOut:
    """Delete the document's held pushes; nothing of this version is sent, now or when re-planned."""
    r = _waiting_review(state, doc_id)
    deleted = state.push_store.drop_review(r.doc_id, r.version)
    if deleted is None:
        raise ApiError(ErrorCode.REVIEW_NOT_FOUND)
    logger.info("push review: %s (%s) dropped, %d messages deleted", r.doc_id, r.version, deleted)
    return DecisionOut(doc_id=r.doc_id, version=r.version, status="dropped", deleted=deleted)


def correct(state: AppState, doc_id: str, body: LabelsIn) -> ReviewOut:
    """Replace a waiting document's labels, re-match every profile and hold the new rows; keep the correction."""
    r = _waiting_review(state, doc_id)
    index = state.snapshot().index
    doc = index.get_document(r.doc_id)
    if doc is None or document_version(doc) != r.version:
        raise ApiError(ErrorCode.REVIEW_NOT_FOUND, "该文件已更新或已不在政策库中，请审核其新版本。", status=409)
    targeting = build_targeting(body, doc, r.targeting.confidence)
    store = state.push_store
    is_revision = bool(doc.supersedes) or store.revision_noted(doc.id, r.version)
    old = index.get_document(doc.supersedes) if doc.supersedes else None
    matcher = state.push_matcher()  # every profile, scored by its description: the held rows best first
    vector = doc_vector(state, matcher.dim)
    query = vector(doc) if vector is not None else None
    entries = match_entries(doc, r.version, targeting, matcher, is_revision, old.title if old else None, query)
    held = store.correct_review(r.doc_id, r.version, targeting, entries, doc_labels_row(targeting))
    if held is None:
        raise ApiError(ErrorCode.REVIEW_NOT_FOUND)
    logger.info("push review: %s (%s) labels corrected, %d messages held", r.doc_id, r.version, held)
    updated = store.review(r.doc_id, r.version)
    assert updated is not None
    return _review_out(state, updated)


def _bad(message: str) -> ApiError:
    return ApiError(ErrorCode.LABELS_INVALID, message)


def _shown(value: object) -> str:
    clean = "".join(c for c in str(value) if c.isprintable())
    return clean if len(clean) <= 20 else clean[:20] + "…"


def _one_of(values: list[str], allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        if v not in allowed:
            raise _bad(f"{what}“{_shown(v)}”不在分类表中。可选：{'、'.join(allowed)}。")
        if v not in out:
            out.append(v)
    return tuple(out)


def _jurisdiction(body: LabelsIn) -> Jurisdiction:
    j = body.jurisdiction
    try:
        level = JurisdictionLevel.from_str(j.level)
    except ValueError:
        raise _bad(f"层级“{_shown(j.level)}”不正确，可选：{_LEVELS}。") from None
    districts = [j.district] if isinstance(j.district, str) else list(j.district or [])
    districts = [d.strip() for d in districts if d.strip()]
    province, city = (j.province or "").strip() or None, (j.city or "").strip() or None
    for value in (province, city, *districts):
        if value is not None and (len(value) > 30 or not all(c.isprintable() for c in value)):
            raise _bad("地区名称应为 30 个字符以内的规范名称，例如“济南市”“历城区”。")
    if level is JurisdictionLevel.NATIONAL:
        return Jurisdiction()
    if province not in PROVINCES:
        raise _bad("省级及以下的文件须填写省份全称，例如“山东省”。")
    if level is JurisdictionLevel.PROVINCIAL:
        return Jurisdiction(level, province)
    if city is None:
        raise _bad("市级及区县级的文件须填写城市，例如“济南市”。")
    if level is JurisdictionLevel.MUNICIPAL:
        return Jurisdiction(level, province, city)
    if not districts:
        raise _bad("区县级的文件须填写区县，例如“历城区”。")
    return Jurisdiction(level, province, city, tuple(dict.fromkeys(districts)))


def build_targeting(body: LabelsIn, doc: Document, confidence: float | None = None) -> Targeting:
    """Checks corrected labels against the taxonomy and the text; raises ApiError with a Chinese message."""
    audience = []
    for a in body.audience:
        try:
            audience.append(Audience.from_str(a))
        except ValueError:
            allowed = "、".join(f"{k}（{v}）" for k, v in KIND_LABELS.items())
            raise _bad(f"适用对象“{_shown(a)}”不正确，可选：{allowed}。") from None
    groups = _one_of(body.groups, GROUPS, "群体")
    topics = _one_of(body.topics, TOPICS, "主题")
    evidence: dict[str, str] = {}
    for group, quote in body.evidence.items():
        if group not in groups:
            raise _bad(f"原文依据中的群体“{_shown(group)}”不在所选群体中。")
        quote = quote.strip()
        if not quote or len(quote) > MAX_EVIDENCE_CHARS:
            raise _bad(f"群体“{group}”的原文依据应为 1-{MAX_EVIDENCE_CHARS} 个字符。")
        if quote not in doc.text:
            raise _bad(f"群体“{group}”的原文依据须逐字摘自文件正文，未在正文中找到“{_shown(quote)}”。")
        evidence[group] = quote
    missing = [g for g in groups if g not in evidence]
    if missing:
        raise _bad(f"请为群体“{'、'.join(missing)}”填写摘自正文的原文依据。")
    return Targeting(
        doc.id,
        tuple(dict.fromkeys(audience)),
        _jurisdiction(body),
        groups,
        evidence,
        topics,
        expired=body.expired,
        expired_reason="审核人员标注为失效" if body.expired else None,
        confidence=confidence,
    )


# -- corrections as training data -----------------------------------------------------------------
def doc_labels_row(t: Targeting) -> dict[str, Any]:
    """`t` as a push-dev doc_labels.jsonl row (what `Targeting.from_dict` reads back)."""
    j = t.jurisdiction
    district: str | list[str] | None = None
    if len(j.districts) == 1:
        district = j.districts[0]
    elif j.districts:
        district = list(j.districts)
    return {
        "_id": t.doc_id,
        "audience": [a.value for a in t.audience],
        "jurisdiction": {"level": j.level.value, "province": j.province, "city": j.city, "district": district},
        "groups": list(t.groups),
        "evidence": dict(t.evidence),
        "topics": list(t.topics),
        "expired_or_superseded": t.expired,
    }


def export_corrections(state: AppState) -> Iterator[str]:
    """Every correction, oldest first, one JSON line each, with `corrected_at` in China Standard Time."""
    for row in state.push_store.corrections():
        yield json.dumps({**row, "corrected_at": iso_time(row["corrected_at"])}, ensure_ascii=False) + "\n"


# -- preview --------------------------------------------------------------------------------------
def preview(state: AppState, doc_id: str | None, doc: Document | None) -> PreviewOut:
    """Who `doc` (or the library's `doc_id`) would reach and why; nothing is stored or sent."""
    if (doc_id is None) == (doc is None):
        raise ApiError(ErrorCode.INVALID_REQUEST, "请提供 doc_id（政策库中的文件）或 document（待导入的文件）之一。")
    if doc is None:
        assert doc_id is not None
        if not DOC_ID.match(doc_id):
            raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
        doc = state.snapshot().index.get_document(doc_id)
        if doc is None:
            raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND)
    decision = state.push_store.review(doc.id, document_version(doc))
    label = labeller(state)
    try:
        targeting = decision.targeting if decision is not None else label(doc)
    except Exception as exc:
        logger.warning("push labeller failed on a preview of %s (%s)", doc.id, type(exc).__name__)
        raise ApiError(ErrorCode.INVALID_REQUEST, "推送标注失败，无法预览该文件，请检查文件内容。") from None
    matched: list[tuple[Profile, str]] = []
    for person in state.push_store.profiles():
        reason = match(person, targeting)
        if reason is not None and doc.status.in_force:
            matched.append((person, reason.text + "。"))
    people = [(p.profile_id, p.kind.value, _area(p.province, p.city, p.district)) for p, _ in matched]
    policy = review_policy(state)
    return PreviewOut(
        doc_id=doc.id,
        labels=_labels_out(targeting),
        evidence=dict(targeting.evidence),
        confidence=targeting.confidence,
        review_reasons=list(policy.reasons(targeting, len(matched))) if policy else [],
        reach=_reach(people),
        sample_reasons=[SampleReason(profile_id=p.profile_id, reason=why) for p, why in matched[:SAMPLE_SIZE]],
    )
