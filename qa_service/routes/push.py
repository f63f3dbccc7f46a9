"""Precise push over HTTP for residents: the taxonomy, subscriber profiles (Bearer token), the inbox.

Profiles hold personal data (contact details, self-description). Only the owner (the token
returned once at creation) and the admin key may read them. The admin jobs are
`qa_service.routes.push_admin`; what the routes do is `qa_service.push.service`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from corpus.metadata import PROVINCES
from corpus.push.taxonomy import GROUPS, KIND_LABELS, TOPICS
from qa_service.errors import ApiError, ErrorCode
from qa_service.push import service
from qa_service.push.records import CHANNEL_LABELS
from qa_service.push.schemas import Choice, InboxOut, ProfileCreated, ProfileIn, ProfileOut, TaxonomyOut
from qa_service.routes.deps import StateDep, SubscriberDep, current_subscriber, is_admin_caller, rate_limit

router = APIRouter(prefix="/api", tags=["精准推送"], dependencies=[Depends(rate_limit)])


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
    sub, token = service.subscribe(state, body)
    return ProfileCreated.of(
        sub, token=token, notice="请妥善保存订阅凭证，它只显示这一次，用于查看、修改或注销本人订阅。"
    )


@router.get("/profiles/me", response_model=ProfileOut, summary="查看本人订阅（Bearer 凭证）")
def get_me(sub: SubscriberDep) -> ProfileOut:
    return ProfileOut.of(sub)


@router.put("/profiles/me", response_model=ProfileOut, summary="修改本人订阅（整体替换）")
def update_me(body: ProfileIn, sub: SubscriberDep, state: StateDep) -> ProfileOut:
    return ProfileOut.of(service.update_subscription(state, sub, body))


@router.delete("/profiles/me", summary="注销本人订阅（删除画像、待发消息和站内信）")
def delete_me(sub: SubscriberDep, state: StateDep) -> dict[str, bool]:
    return {"deleted": service.unsubscribe(state, sub)}


@router.get("/profiles/me/inbox", response_model=InboxOut, summary="本人收到的政策推送（含推送理由）")
def inbox(
    sub: SubscriberDep,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> InboxOut:
    return InboxOut.of(*state.push_store.inbox(sub.profile.profile_id, limit, offset))


@router.get("/profiles/{profile_id}", response_model=ProfileOut, summary="查看指定订阅（本人凭证或管理密钥）")
def get_profile(profile_id: str, request: Request, state: StateDep) -> ProfileOut:
    if not is_admin_caller(request, state):
        # Checked before looking the id up, so a stranger learns nothing about which ids exist.
        if request.headers.get("x-api-key"):
            raise ApiError(ErrorCode.UNAUTHORIZED)
        if current_subscriber(request, state).profile.profile_id != profile_id:
            raise ApiError(ErrorCode.FORBIDDEN)
    sub = state.push_store.get_profile(profile_id) if len(profile_id) <= 100 else None
    if sub is None:
        raise ApiError(ErrorCode.NOT_FOUND, "未找到该订阅。")
    return ProfileOut.of(sub)
