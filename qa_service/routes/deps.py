"""Dependencies shared by routes: the app state, rate limiting, the admin key, the agents' keys and the
subscriber token, filters."""

from __future__ import annotations

import hmac
import math
import re
from typing import Annotated

from fastapi import Depends, Request

from corpus.models import Status
from index.types import Filters
from qa_service.errors import ApiError, ErrorCode
from qa_service.push.records import Subscriber
from qa_service.ratelimit import RateLimiter
from qa_service.schemas import FilterIn, check_text
from qa_service.settings import Settings
from qa_service.state import AppState

MAX_FILTER_CHARS = 100
MAX_TOKEN_CHARS = 200
_TOKEN = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_TOKEN_CHARS}}}$")


def get_state(request: Request) -> AppState:
    state = getattr(request.app.state, "qa", None)
    if state is None:
        raise ApiError(ErrorCode.INDEX_UNAVAILABLE)
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def client_key(request: Request) -> str:
    # Only the socket peer is trusted; a proxy in front should be configured to pass it.
    return request.client.host if request.client else "unknown"


def _take(limiter: RateLimiter, request: Request, key: str | None = None) -> None:
    wait = limiter.acquire(key or client_key(request))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(
            ErrorCode.RATE_LIMITED, f"请求过于频繁，请 {seconds} 秒后再试。", headers={"Retry-After": str(seconds)}
        )


def rate_limit(request: Request, state: StateDep) -> None:
    _take(state.limiter, request)


def admin_rate_limit(request: Request) -> None:
    """The admin bucket (`app.state.admin_limiter`), taken before the key is checked."""
    _take(request.app.state.admin_limiter, request)


def is_admin(request: Request, settings: Settings) -> bool:
    """The admin key, as `X-API-Key: <key>` or `Authorization: Bearer <key>`: the one check for every route."""
    key = settings.admin_api_key
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if key is None or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), key.get_secret_value().encode())


def require_admin(request: Request, state: StateDep) -> None:
    # Every attempt uses up the admin bucket, a wrong key included: guessing the key is slow.
    admin_rate_limit(request)
    if state.settings.admin_api_key is None:
        raise ApiError(ErrorCode.ADMIN_DISABLED)
    if not is_admin(request, state.settings):
        raise ApiError(ErrorCode.UNAUTHORIZED)


def is_admin_caller(request: Request, state: StateDep) -> bool:
    """`is_admin` for routes open to subscribers too; a request with an admin key is slowed like on admin routes."""
    if request.headers.get("x-api-key"):
        admin_rate_limit(request)
    return is_admin(request, state.settings)


def current_agent(request: Request, state: StateDep) -> str:
    """The 12345 agent whose key is `X-Agent-Key: <key>`: their id. Separate from the admin key.

    A wrong or missing key uses up the agents' bucket of the caller's address, so guessing is slow; a
    known agent is limited by their own bucket, keyed by the agent id: a call centre's agents share one
    NAT address, and a colleague's typos there never slow them down.
    """
    keys = state.settings.agent_keys
    if not keys:
        raise ApiError(ErrorCode.AGENT_DISABLED)
    given = (request.headers.get("x-agent-key") or "").encode("utf-8", "replace")
    agent = None
    for name, key in keys.items():  # every key compared, so the time says nothing about which one is close
        if given and hmac.compare_digest(given, key.get_secret_value().encode()):
            agent = name
    if agent is None:
        _take(request.app.state.agent_limiter, request, key="addr:" + client_key(request))
        raise ApiError(ErrorCode.AGENT_UNAUTHORIZED)
    _take(request.app.state.agent_limiter, request, key=f"agent:{agent}")
    return agent


AgentDep = Annotated[str, Depends(current_agent)]


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization") or ""
    if not auth.lower().startswith("bearer "):
        return None
    return auth[7:].strip() or None


def current_subscriber(request: Request, state: StateDep) -> Subscriber:
    """The subscriber whose token is `Authorization: Bearer <token>`; 401 without one or with a wrong one."""
    token = _bearer(request)
    if token is None:
        raise ApiError(ErrorCode.TOKEN_MISSING)
    sub = state.push_store.profile_by_token(token) if _TOKEN.match(token) else None
    if sub is None:
        raise ApiError(ErrorCode.TOKEN_INVALID)
    return sub


SubscriberDep = Annotated[Subscriber, Depends(current_subscriber)]


def _opt(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    return check_text(
        value, max_chars=MAX_FILTER_CHARS, empty=ErrorCode.BAD_FILTER, too_long=ErrorCode.BAD_FILTER, what=what
    )


def parse_status(values: list[str] | str | None) -> frozenset[Status]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    out = set()
    for raw in values:
        for part in raw.split(","):
            if not part.strip():
                continue
            try:
                out.add(Status.from_str(part))
            except ValueError:
                allowed = "、".join(s.value for s in Status)
                raise ApiError(ErrorCode.BAD_FILTER, f"状态筛选值“{part[:20]}”无效，可选值：{allowed}。") from None
    return frozenset(out)


def make_filters(f: FilterIn | None) -> Filters | None:
    if f is None:
        return None
    return build_filters(f.status, f.issuer, f.date_from, f.date_to, f.region, f.topic, f.doc_type)


def build_filters(
    status: list[str] | str | None,
    issuer: str | None,
    date_from: str | None,
    date_to: str | None,
    region: str | None,
    topic: str | None,
    doc_type: str | None,
) -> Filters | None:
    dates = {}
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        v = _opt(value, "日期")
        if v is not None:
            dates[name] = v
    try:
        filters = Filters(
            status=parse_status(status),
            issuer=_opt(issuer, "发文机关"),
            region=_opt(region, "地区"),
            topic=_opt(topic, "主题"),
            doc_type=_opt(doc_type, "文件类型"),
            **dates,
        )
    except ValueError as exc:
        if "after" in str(exc):
            raise ApiError(ErrorCode.BAD_DATE, "起始日期不能晚于截止日期。") from None
        raise ApiError(ErrorCode.BAD_DATE, "日期格式不正确，应为 YYYY-MM-DD，例如 2024-01-31。") from None
    return None if filters.is_empty() else filters
