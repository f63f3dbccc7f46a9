"""The ask use case: validate, run the Q&A pipeline (index.pipeline) in the caller's conversation,
record the answer, count it. Routes translate HTTP around it; nothing here knows a request."""

from __future__ import annotations

import logging
import uuid

from index.types import Filters
from qa_service.conversation import Turn, conversation_ref, valid_conversation_id
from qa_service.errors import ApiError, ErrorCode
from qa_service.followups import follow_ups
from qa_service.generator import generator_for
from qa_service.privacy import mask_personal
from qa_service.schemas import AskRequest, AskResponse, check_text
from qa_service.state import AppState
from qa_service.store import AnswerRecord

logger = logging.getLogger(__name__)


def run_ask(state: AppState, req: AskRequest, filters: Filters | None = None) -> AskResponse:
    settings = state.settings
    question = check_text(req.question, max_chars=settings.max_question_chars)
    if req.conversation_id is not None and not valid_conversation_id(req.conversation_id):
        raise ApiError(ErrorCode.BAD_ID, "会话编号格式不正确（应为 1-64 位字母、数字、下划线或连字符）。")
    # Only ids this server issued (and still remembers) carry history. Any other id, guessed,
    # chosen by the client ("1") or expired, starts a fresh conversation whose id is returned,
    # rather than a 4xx: a resident whose conversation was forgotten just gets this question
    # answered on its own (the widget takes the new id from the `meta` event), and nobody's
    # follow-up is ever read in another client's topic.
    conversation_id, history = state.conversations.open(req.conversation_id)
    snap = state.snapshot()
    gen = generator_for(settings)
    # The generator is bounded by its deadline: the extractive answer if it is busy or slow.
    answer = snap.pipeline.ask(question, history, filters, rephrase=gen.rephrase if gen is not None else None)

    answer_id = uuid.uuid4().hex
    cited = tuple(dict.fromkeys(s.citation.doc_id for s in answer.sentences))
    state.store.record_answer(
        AnswerRecord(
            answer_id,
            conversation_ref(conversation_id),  # the id itself is a capability: not kept at rest
            question,
            answer.query,
            answer.abstained,
            answer.confidence,
            answer.source,
            cited,
        )
    )
    state.metrics.count_answer(answer.source, answer.abstained)
    try:
        state.conversations.append(conversation_id, Turn(question, answer.query))
    except KeyError:  # evicted while this answer was built: the next question starts afresh
        pass
    logger.info(
        "ask answered=%s source=%s conf=%.3f q=%s",
        not answer.abstained,
        answer.source,
        answer.confidence,
        mask_personal(question)[:80],
    )
    resp = AskResponse.of(answer, answer_id, conversation_id)
    resp.follow_ups = follow_ups(snap.index, answer)
    return resp
