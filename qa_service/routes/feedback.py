"""POST /api/feedback: useful / not useful on an answer, with a reason and an optional comment."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from qa_service.conversation import valid_conversation_id
from qa_service.errors import ApiError, ErrorCode
from qa_service.routes.deps import StateDep, rate_limit
from qa_service.schemas import FeedbackRequest, FeedbackResponse, check_text

router = APIRouter(prefix="/api", tags=["评价"])
MAX_COMMENT_CHARS = 1000


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    dependencies=[Depends(rate_limit)],
    summary="对一次回答评价“有用 / 没用”，可附原因（没回答我的问题 / 内容过时 / 引用错误 / 其他）和意见",
)
def feedback(req: FeedbackRequest, state: StateDep) -> FeedbackResponse:
    if not valid_conversation_id(req.answer_id):
        raise ApiError(ErrorCode.BAD_ID, "回答编号格式不正确。")
    comment = None
    if req.comment is not None and req.comment.strip():
        comment = check_text(
            req.comment,
            max_chars=MAX_COMMENT_CHARS,
            empty=ErrorCode.INVALID_REQUEST,
            too_long=ErrorCode.INVALID_REQUEST,
            what="评价内容",
        )
    if state.store.get_answer(req.answer_id) is None:
        raise ApiError(ErrorCode.ANSWER_NOT_FOUND)
    fid = state.store.add_feedback(req.answer_id, req.useful, comment, req.reason)
    return FeedbackResponse(id=fid, answer_id=req.answer_id)
