"""POST /api/ask and its server-sent-events twin /api/ask/stream."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from qa_service.asking import run_ask
from qa_service.routes.deps import StateDep, make_filters, rate_limit
from qa_service.schemas import AskRequest, AskResponse

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["问答"])


@router.post(
    "/ask",
    response_model=AskResponse,
    dependencies=[Depends(rate_limit)],
    summary="提问：返回带出处的答案或“未找到相关政策”",
)
def ask(req: AskRequest, state: StateDep) -> AskResponse:
    return run_ask(state, req, make_filters(req.filters))


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _events(resp: AskResponse) -> Iterator[str]:
    yield _sse(
        "meta",
        {
            "answer_id": resp.answer_id,
            "conversation_id": resp.conversation_id,
            "abstained": resp.abstained,
            "confidence": resp.confidence,
            "source": resp.source,
            "resolved_question": resp.resolved_question,
        },
    )
    if resp.abstained or not resp.sentences or resp.source == "generated":
        yield _sse("delta", {"text": resp.answer})
    else:
        for s in resp.sentences:
            yield _sse("sentence", s.model_dump())
        for n in resp.notices:
            yield _sse("notice", n.model_dump())
    if resp.suggestions:
        yield _sse("suggestions", [s.model_dump() for s in resp.suggestions])
    if resp.passages:
        yield _sse("passages", [p.model_dump() for p in resp.passages])
    yield _sse("done", resp.model_dump())


def _stream(resp: AskResponse) -> StreamingResponse:
    return StreamingResponse(
        _events(resp), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.post(
    "/ask/stream", dependencies=[Depends(rate_limit)], summary="提问（SSE 流式）：meta、sentence…、passages、done 事件"
)
def ask_stream(req: AskRequest, state: StateDep) -> StreamingResponse:
    # The extractive answer takes milliseconds: build it first so bad input still gets a 4xx, then stream.
    return _stream(run_ask(state, req, make_filters(req.filters)))


@router.get("/ask/stream", dependencies=[Depends(rate_limit)], summary="提问（SSE 流式，EventSource 用 GET）")
def ask_stream_get(
    state: StateDep,
    question: Annotated[str, Query(description="问题")],
    conversation_id: Annotated[str | None, Query()] = None,
) -> StreamingResponse:
    return _stream(run_ask(state, AskRequest(question=question, conversation_id=conversation_id)))
