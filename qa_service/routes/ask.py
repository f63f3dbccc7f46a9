"""POST /api/ask and its server-sent-events twin /api/ask/stream."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from index.answer import Answer, AnswerSentence, Citation, document_link
from index.types import Filters
from qa_service.conversation import Turn, conversation_ref, resolve_follow_up, valid_conversation_id
from qa_service.errors import ApiError, ErrorCode
from qa_service.faq import FaqMatch
from qa_service.generator import generator_for
from qa_service.privacy import mask_personal
from qa_service.routes.deps import StateDep, make_filters, rate_limit
from qa_service.schemas import AskRequest, AskResponse, check_text
from qa_service.state import AppState, Snapshot
from qa_service.store import AnswerRecord

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["问答"])


def _faq_answer(snap: Snapshot, question: str, query: str, match: FaqMatch, hotline: str) -> Answer:
    """The approved answer, cited to its source document's best-matching passage."""
    sentences: tuple[AnswerSentence, ...] = ()
    doc = snap.index.get_document(match.item.doc_id) if match.item.doc_id else None
    if doc is not None:
        hits = snap.index.search(query, top_k=1, filters=Filters(doc_ids=frozenset({doc.id})))
        passages = [h.passage for h in hits] or snap.index.passages_of(doc.id)[:1]
        if passages:
            cite = snap.answerer.citation(passages[0])
        else:
            cite = Citation(
                doc.id,
                "",
                doc.title,
                doc.doc_number,
                doc.issuer,
                doc.publish_date,
                doc.status,
                (),
                document_link(doc.id),
                doc.url,
            )
        sentences = (AnswerSentence(match.item.answer, cite, -1, -1, match.score),)
    notices = snap.answerer.notices([s.citation for s in sentences])
    return Answer(
        question=question,
        query=query,
        abstained=False,
        text=match.item.answer,
        sentences=sentences,
        passages=(),
        confidence=match.score,
        notices=notices,
        hotline=hotline,
        source="faq",
        signals={"faq_score": match.score, "faq_id": float(match.item.id)},
    )


def run_ask(state: AppState, req: AskRequest) -> AskResponse:
    settings = state.settings
    question = check_text(req.question, max_chars=settings.max_question_chars)
    if req.conversation_id is not None and not valid_conversation_id(req.conversation_id):
        raise ApiError(ErrorCode.BAD_ID, "会话编号格式不正确（应为 1-64 位字母、数字、下划线或连字符）。")
    filters = make_filters(req.filters)
    # Only ids this server issued (and still remembers) carry history. Any other id, guessed,
    # chosen by the client ("1") or expired, starts a fresh conversation whose id is returned,
    # rather than a 4xx: a resident whose conversation was forgotten just gets this question
    # answered on its own (the widget takes the new id from the `meta` event), and nobody's
    # follow-up is ever read in another client's topic.
    conversation_id, history = state.conversations.open(req.conversation_id)
    snap = state.snapshot()
    query = resolve_follow_up(question, history, snap.index.tokenize)

    match = snap.faq.match(question) if filters is None else None
    if match is None and query != question and filters is None:
        match = snap.faq.match(query)
    if match is not None:
        answer = _faq_answer(snap, question, query, match, settings.hotline)
    else:
        answer = snap.answerer.answer(question, query=query, filters=filters)
        gen = generator_for(settings)
        if gen is not None and not answer.abstained:
            answer = gen.rephrase(answer)  # bounded by its deadline; the extractive answer if it is busy or slow

    answer_id = uuid.uuid4().hex
    cited = tuple(dict.fromkeys(s.citation.doc_id for s in answer.sentences))
    state.store.record_answer(
        AnswerRecord(
            answer_id,
            conversation_ref(conversation_id),  # the id itself is a capability: not kept at rest
            question,
            query,
            answer.abstained,
            answer.confidence,
            answer.source,
            cited,
        )
    )
    state.metrics.count_answer(answer.source, answer.abstained)
    try:
        state.conversations.append(conversation_id, Turn(question, query))
    except KeyError:  # evicted while this answer was built: the next question starts afresh
        pass
    logger.info(
        "ask answered=%s source=%s conf=%.3f q=%s",
        not answer.abstained,
        answer.source,
        answer.confidence,
        mask_personal(question)[:80],
    )
    return AskResponse.of(answer, answer_id, conversation_id)


@router.post(
    "/ask",
    response_model=AskResponse,
    dependencies=[Depends(rate_limit)],
    summary="提问：返回带出处的答案或“未找到相关政策”",
)
def ask(req: AskRequest, state: StateDep) -> AskResponse:
    return run_ask(state, req)


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
    return _stream(run_ask(state, req))


@router.get("/ask/stream", dependencies=[Depends(rate_limit)], summary="提问（SSE 流式，EventSource 用 GET）")
def ask_stream_get(
    state: StateDep,
    question: Annotated[str, Query(description="问题")],
    conversation_id: Annotated[str | None, Query()] = None,
) -> StreamingResponse:
    return _stream(run_ask(state, AskRequest(question=question, conversation_id=conversation_id)))
