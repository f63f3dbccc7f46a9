"""Precise push over HTTP for residents: the taxonomy, subscriber profiles (Bearer token), the inbox.

Profiles hold personal data (contact details, self-description). Only the owner (the token
returned once at creation) and the admin key may read them. The admin jobs are
`qa_service.routes.push_admin`; what the routes do is `qa_service.push.service`.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from corpus.metadata import PROVINCES
from corpus.push.taxonomy import GROUPS, KIND_LABELS, TOPICS
from qa_service.errors import ApiError, ErrorCode
from qa_service.pages import content_security_policy
from qa_service.push import service, streets
from qa_service.push.contact_form import MAX_DAILY_CAP, MODE_LABELS
from qa_service.push.records import CHANNEL_LABELS
from qa_service.push.schemas import (
    WEBHOOK_SECRET_NOTICE,
    Choice,
    InboxItemOut,
    InboxOut,
    ProfileCreated,
    ProfileIn,
    ProfileOut,
    ProfileUpdated,
    StreetOut,
    StreetsOut,
    SuggestIn,
    SuggestOut,
    TaxonomyOut,
)
from qa_service.routes.deps import StateDep, SubscriberDep, current_subscriber, is_admin_caller, rate_limit

router = APIRouter(prefix="/api", tags=["精准推送"], dependencies=[Depends(rate_limit)])


@router.get("/push/taxonomy", response_model=TaxonomyOut, summary="订阅表单的可选群体、主题、类型与接收渠道")
def taxonomy(state: StateDep) -> TaxonomyOut:
    return TaxonomyOut(
        groups=list(GROUPS),
        topics=list(TOPICS),
        kinds=[Choice(value=k, label=v) for k, v in KIND_LABELS.items()],
        channels=[Choice(value=k, label=v) for k, v in CHANNEL_LABELS.items()],
        provinces=list(PROVINCES),
        available_channels=[Choice(value=k, label=v) for k, v in service.offered_channels(state).labels().items()],
        delivery_modes=[Choice(value=k, label=v) for k, v in MODE_LABELS.items()],
        max_daily_cap=MAX_DAILY_CAP,
    )


@router.get("/regions/streets", response_model=StreetsOut, summary="区县的街道、乡镇列表（订阅时从中选择街道）")
def district_streets(
    state: StateDep,
    response: Response,
    district: str | None = None,
    province: str | None = None,
    city: str | None = None,
    code: str | None = None,
) -> StreetsOut:
    found = streets.district_streets(streets.street_table(state.settings), district, province, city, code)
    d = found.division
    response.headers["Cache-Control"] = "public, max-age=3600"  # the same official list for every resident
    return StreetsOut(
        province=d.province,
        city=d.city,
        district=d.name,
        district_code=d.code,
        listed=found.listed,
        streets=[StreetOut(code=s.code, name=s.name) for s in found.streets],
        notice=found.notice,
    )


@router.post(
    "/push/profile/suggest",
    response_model=SuggestOut,
    summary="根据自我描述推测所属群体和关注主题（供本人确认，不保存）",
)
def suggest_profile(body: SuggestIn, state: StateDep) -> SuggestOut:
    return SuggestOut.of(*service.suggest_interests(state, body.description))


@router.post("/profiles", response_model=ProfileCreated, status_code=201, summary="订阅政策推送（返回一次性凭证）")
def create_profile(body: ProfileIn, state: StateDep) -> ProfileCreated:
    sub, token = service.subscribe(state, body)
    notice = "请妥善保存订阅凭证，它只显示这一次，用于查看、修改或注销本人订阅。"
    secret = sub.contact.webhook_secret
    if secret:
        notice += WEBHOOK_SECRET_NOTICE
    return ProfileCreated.of(sub, token=token, notice=notice, webhook_secret=secret)


@router.get("/profiles/me", response_model=ProfileOut, summary="查看本人订阅（Bearer 凭证）")
def get_me(sub: SubscriberDep) -> ProfileOut:
    return ProfileOut.of(sub)


@router.put("/profiles/me", response_model=ProfileUpdated, summary="修改本人订阅（整体替换）")
def update_me(body: ProfileIn, sub: SubscriberDep, state: StateDep) -> ProfileUpdated:
    updated, secret = service.update_subscription(state, sub, body)
    return ProfileUpdated.of(updated, webhook_secret=secret, notice=WEBHOOK_SECRET_NOTICE if secret else None)


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
    pid = sub.profile.profile_id
    return InboxOut.of(*state.push_store.inbox(pid, limit, offset), unread=state.push_store.unread_count(pid))


@router.post("/push/inbox/{key}/read", response_model=InboxItemOut, summary="标记本人的一条站内信为已读（已读回执）")
def read_inbox_item(key: str, sub: SubscriberDep, state: StateDep) -> InboxItemOut:
    return InboxItemOut.of(service.read_inbox_item(state, sub, key))


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


# -- one-click unsubscribe by signed link (no login) ----------------------------------------------
_PAGE_STYLE = (
    "<style>body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em;line-height:1.6}"
    "button{font-size:1em;padding:.5em 1.5em}</style>"
)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(title: str, text: str, *, status: int = 200, confirm: bool = False) -> HTMLResponse:
    # GET never unsubscribes (link scanners follow links): the button POSTs back to the page's own URL
    # (no action attribute), so it works under any path prefix and for the short link alike.
    form = '<form method="post"><button type="submit">确认退订</button></form>' if confirm else ""
    markup = (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{_PAGE_STYLE}</head>'
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    headers = {"Content-Security-Policy": content_security_policy(markup), "Cache-Control": "no-store"}
    return HTMLResponse(markup, status_code=status, headers=headers)


def _error_page(exc: ApiError) -> HTMLResponse:
    return _page("退订链接无法使用", exc.message, status=exc.status)


@router.get("/push/unsubscribe", summary="退订确认页（签名链接，无需登录；不会直接退订）", response_model=None)
def unsubscribe_confirm(request: Request, state: StateDep, t: str = "") -> Response:
    try:
        subscribed = service.unsubscribe_link_target(state, t)
    except ApiError as exc:
        if _wants_html(request):
            return _error_page(exc)
        raise
    if not _wants_html(request):
        return JSONResponse({"subscribed": subscribed}, headers={"Cache-Control": "no-store"})
    if not subscribed:
        return _page("您已退订", "该订阅已注销，您不会再收到政策推送。")
    return _page(
        "确认退订政策推送",
        "确认后将删除您的订阅信息、待发送的推送和站内信，且无法恢复。如需再次订阅，可随时重新填写订阅表单。",
        confirm=True,
    )


@router.get("/u/{t}", summary="退订确认页（短信中的短链接）", response_model=None)
def unsubscribe_short(request: Request, state: StateDep, t: str) -> Response:
    return unsubscribe_confirm(request, state, t)


@router.post("/push/unsubscribe", summary="一键退订（RFC 8058 One-Click，签名链接，无需登录）", response_model=None)
@router.post("/u/{t}", summary="一键退订（短链接）", response_model=None)
def unsubscribe_one_click(request: Request, state: StateDep, t: str = "") -> Response:
    # Mail clients POST "List-Unsubscribe=One-Click" to the link itself: the token is in the query.
    try:
        deleted = service.unsubscribe_by_link(state, t)
    except ApiError as exc:
        if _wants_html(request):
            return _error_page(exc)
        raise
    if _wants_html(request):
        return _page("退订成功", "已删除您的订阅信息及相关推送记录，您将不再收到政策推送。")
    return JSONResponse({"unsubscribed": True, "deleted": deleted}, headers={"Cache-Control": "no-store"})
