"""One error envelope for every failure: `{"error": {"code": ..., "message": ...}}`.

Codes are stable identifiers for programs; messages are Chinese for residents and agents.
Domain code raises ValueError / ApiError; only this module knows how they become HTTP.
"""

from __future__ import annotations

import logging
import re
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)


class ErrorCode(str, Enum):
    QUERY_EMPTY = "QUERY_EMPTY"
    QUERY_TOO_LONG = "QUERY_TOO_LONG"
    INVALID_TEXT = "INVALID_TEXT"
    INVALID_REQUEST = "INVALID_REQUEST"
    MALFORMED_JSON = "MALFORMED_JSON"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    BAD_FILTER = "BAD_FILTER"
    BAD_DATE = "BAD_DATE"
    BAD_PAGE = "BAD_PAGE"
    BAD_ID = "BAD_ID"
    DOCUMENT_NOT_FOUND = "DOCUMENT_NOT_FOUND"
    ANSWER_NOT_FOUND = "ANSWER_NOT_FOUND"
    FAQ_NOT_FOUND = "FAQ_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNAUTHORIZED = "UNAUTHORIZED"
    ADMIN_DISABLED = "ADMIN_DISABLED"
    RATE_LIMITED = "RATE_LIMITED"
    INDEX_UNAVAILABLE = "INDEX_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    PROFILE_INVALID = "PROFILE_INVALID"
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    FORBIDDEN = "FORBIDDEN"
    PUSH_UNAVAILABLE = "PUSH_UNAVAILABLE"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    REVIEW_NOT_FOUND = "REVIEW_NOT_FOUND"
    LABELS_INVALID = "LABELS_INVALID"
    AGENT_UNAUTHORIZED = "AGENT_UNAUTHORIZED"
    AGENT_DISABLED = "AGENT_DISABLED"


# Default Chinese message and HTTP status per code.
_DEFAULTS: dict[ErrorCode, tuple[int, str]] = {
    ErrorCode.QUERY_EMPTY: (422, "问题不能为空，请输入您要咨询的内容。"),
    ErrorCode.QUERY_TOO_LONG: (422, "问题过长，请精简后再提问。"),
    ErrorCode.INVALID_TEXT: (422, "输入包含无法识别的字符，请检查后重新输入。"),
    ErrorCode.INVALID_REQUEST: (422, "请求参数不正确，请检查后重试。"),
    ErrorCode.MALFORMED_JSON: (400, "请求内容不是有效的 JSON，请检查格式。"),
    ErrorCode.BODY_TOO_LARGE: (413, "请求内容过大，请精简后重试。"),
    ErrorCode.REQUEST_TIMEOUT: (408, "请求内容接收超时，请检查网络后重试。"),
    ErrorCode.BAD_FILTER: (422, "筛选条件不正确，请检查后重试。"),
    ErrorCode.BAD_DATE: (422, "日期格式不正确，应为 YYYY-MM-DD。"),
    ErrorCode.BAD_PAGE: (422, "分页参数不正确。"),
    ErrorCode.BAD_ID: (422, "编号格式不正确。"),
    ErrorCode.DOCUMENT_NOT_FOUND: (404, "未找到该文件，请确认文件编号是否正确。"),
    ErrorCode.ANSWER_NOT_FOUND: (404, "未找到该回答，无法提交评价。"),
    ErrorCode.FAQ_NOT_FOUND: (404, "未找到该常见问题条目。"),
    ErrorCode.NOT_FOUND: (404, "请求的地址不存在。"),
    ErrorCode.METHOD_NOT_ALLOWED: (405, "不支持该请求方法。"),
    ErrorCode.UNAUTHORIZED: (401, "缺少或错误的管理密钥（请在请求头 X-API-Key 或 Authorization: Bearer 中提供）。"),
    ErrorCode.ADMIN_DISABLED: (403, "管理接口未启用：请在服务配置中设置 QA_ADMIN_API_KEY 后重启。"),
    ErrorCode.RATE_LIMITED: (429, "请求过于频繁，请稍后再试。"),
    ErrorCode.INDEX_UNAVAILABLE: (503, "政策库正在加载，请稍后再试。"),
    ErrorCode.PROFILE_INVALID: (422, "订阅信息不正确，请检查后重试。"),
    ErrorCode.TOKEN_MISSING: (401, "缺少订阅凭证，请在请求头 Authorization 中以 Bearer 方式提供创建订阅时获得的凭证。"),
    ErrorCode.TOKEN_INVALID: (401, "订阅凭证无效或已注销，请确认凭证是否正确。"),
    ErrorCode.FORBIDDEN: (403, "无权查看或修改其他用户的订阅信息。"),
    ErrorCode.PUSH_UNAVAILABLE: (503, "政策推送功能暂不可用，请稍后再试。"),
    ErrorCode.STORAGE_UNAVAILABLE: (503, "保存失败（存储暂不可用），本次提交未生效，请稍后重试。"),
    ErrorCode.REVIEW_NOT_FOUND: (404, "该文件没有待审核的推送（可能已批准、已撤下或文件编号有误）。"),
    ErrorCode.LABELS_INVALID: (422, "推送标注不正确，请检查后重试。"),
    ErrorCode.AGENT_UNAUTHORIZED: (401, "缺少或错误的坐席密钥（请在请求头 X-Agent-Key 中提供）。"),
    ErrorCode.AGENT_DISABLED: (403, "坐席接口未启用：请在服务配置中设置 QA_AGENT_KEYS 后重启。"),
    ErrorCode.INTERNAL_ERROR: (500, "服务暂时出现问题，请稍后再试或拨打 12345 热线咨询。"),
}


class ApiError(Exception):
    """An error the HTTP layer turns into the envelope."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = _DEFAULTS[code]
        self.code = code
        self.message = _printable(message or default_message)
        self.status = status or default_status
        self.headers = headers
        super().__init__(f"{code.value}: {self.message}")


def error_response(
    code: ErrorCode, message: str | None = None, status: int | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    err = ApiError(code, message, status, headers)
    return JSONResponse(
        {"error": {"code": err.code.value, "message": err.message}}, status_code=err.status, headers=headers
    )


# Pydantic error types raised by our own validators (PydanticCustomError) map 1:1 to codes.
_TYPE_TO_CODE = {
    "query_empty": ErrorCode.QUERY_EMPTY,
    "query_too_long": ErrorCode.QUERY_TOO_LONG,
    "invalid_text": ErrorCode.INVALID_TEXT,
    "bad_filter": ErrorCode.BAD_FILTER,
    "bad_date": ErrorCode.BAD_DATE,
    "bad_page": ErrorCode.BAD_PAGE,
    "bad_id": ErrorCode.BAD_ID,
    "json_invalid": ErrorCode.MALFORMED_JSON,
}

_FIELD_NAMES = {
    "question": "问题",
    "q": "查询词",
    "conversation_id": "会话编号",
    "answer_id": "回答编号",
    "useful": "是否有用",
    "comment": "评价内容",
    "page": "页码",
    "page_size": "每页条数",
    "sort": "排序方式",
    "status": "状态",
    "date_from": "起始日期",
    "date_to": "截止日期",
    "answer": "答案",
    "doc_id": "文件编号",
    "documents": "文件列表",
    "body": "请求体",
    "kind": "订阅类型",
    "province": "省份",
    "city": "城市",
    "district": "区县",
    "street": "街道",
    "groups": "所属群体",
    "topics": "关注主题",
    "description": "自我描述",
    "contact": "联系方式",
    "channel": "接收渠道",
    "address": "联系地址",
    "doc_ids": "文件编号列表",
    "limit": "数量上限",
    "offset": "起始位置",
    "audience": "适用对象",
    "jurisdiction": "适用地区",
    "level": "层级",
    "evidence": "原文依据",
    "expired": "是否失效",
    "document": "文件",
}


def _validation_to_error(exc: RequestValidationError) -> tuple[ErrorCode, str | None]:
    errors = exc.errors()
    if not errors:
        return ErrorCode.INVALID_REQUEST, None
    first = errors[0]
    etype = str(first.get("type", ""))
    if etype in _TYPE_TO_CODE:
        code = _TYPE_TO_CODE[etype]
        # Our custom errors carry a Chinese message already; pydantic's built-ins do not.
        msg = str(first.get("msg", "")) if etype != "json_invalid" else None
        return code, msg if msg and _has_cjk(msg) else None
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = _FIELD_NAMES.get(loc[-1], loc[-1]) if loc else "请求体"
    if etype == "missing":
        return ErrorCode.INVALID_REQUEST, f"缺少必填字段：{field}。"
    if etype == "extra_forbidden":
        return ErrorCode.INVALID_REQUEST, f"不支持的字段：{field}。"
    if etype.startswith(("string", "int", "float", "bool", "model", "dict", "list")):
        return ErrorCode.INVALID_REQUEST, f"字段“{field}”的类型或取值不正确。"
    return ErrorCode.INVALID_REQUEST, f"字段“{field}”的取值不正确。"


_CJK = re.compile(r"[\u4e00-\u9fff]")


def _has_cjk(s: str) -> bool:
    return bool(_CJK.search(s))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.code, exc.message, exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        code, msg = _validation_to_error(exc)
        return error_response(code, msg)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI could not read the body (e.g. GBK or other non-UTF-8 bytes); its cause is English.
            logger.info("unreadable body on %s %s: %s", request.method, request.url.path, exc.__cause__ or exc.detail)
            return error_response(ErrorCode.MALFORMED_JSON, _UNREADABLE)
        if exc.status_code == 408:
            return error_response(ErrorCode.REQUEST_TIMEOUT, headers={"Connection": "close"})
        if exc.status_code == 404:
            return error_response(ErrorCode.NOT_FOUND)
        if exc.status_code == 405:
            return error_response(ErrorCode.METHOD_NOT_ALLOWED)
        if exc.status_code == 413:
            return error_response(ErrorCode.BODY_TOO_LARGE)
        code = ErrorCode.INVALID_REQUEST if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        return error_response(code, status=exc.status_code)

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError) -> JSONResponse:
        # Domain code validates with ValueError; its message is English, for developers: logged, not shown.
        logger.info("rejected request on %s %s: %s", request.method, request.url.path, exc)
        return error_response(ErrorCode.INVALID_REQUEST)

    # Anything else is caught by qa_service.guard.Guard, which answers with INTERNAL_ERROR.


_UNREADABLE = "请求内容无法解析，请以 UTF-8 编码发送有效的 JSON。"
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _printable(message: str) -> str:
    """A message may echo what the client sent: no lone surrogates (unencodable) or control characters."""
    return _UNPRINTABLE.sub("\ufffd", message)


def envelope(code: ErrorCode, message: str | None = None) -> dict[str, Any]:
    err = ApiError(code, message)
    return {"error": {"code": err.code.value, "message": err.message}}
