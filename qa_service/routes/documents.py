"""GET /api/documents/{id}: full text, structure, metadata, revisions and interpretations."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from corpus.chunking import heading_of
from qa_service.errors import ApiError, ErrorCode
from qa_service.routes.deps import StateDep, rate_limit
from qa_service.schemas import DOC_ID, DocSummary, DocumentOut, HeadingOut, SectionOut, VersionOut

router = APIRouter(prefix="/api", tags=["文件"])


def outline(text: str) -> list[HeadingOut]:
    out, pos = [], 0
    for line in text.split("\n"):
        h = heading_of(line)
        if h is not None:
            out.append(HeadingOut(level=h[0], label=h[1], start=pos + len(line) - len(line.lstrip())))
        pos += len(line) + 1
    return out


@router.get(
    "/documents/{doc_id:path}",
    response_model=DocumentOut,
    dependencies=[Depends(rate_limit)],
    summary="文件全文、结构、元数据、历次版本与政策解读",
)
def get_document(doc_id: str, state: StateDep) -> DocumentOut:
    if not DOC_ID.match(doc_id):
        raise ApiError(ErrorCode.BAD_ID, "文件编号格式不正确（1-300 个字符，不能含控制字符）。")
    snap = state.snapshot()
    index, lib = snap.index, snap.library
    doc = index.get_document(doc_id)
    if doc is None:
        raise ApiError(ErrorCode.DOCUMENT_NOT_FOUND)

    revisions = []
    for rid in lib.revisions(doc_id):
        r = index.get_document(rid)
        if r is None:
            continue
        revisions.append(
            VersionOut(
                **DocSummary.of(r).model_dump(),
                effective_date=r.effective_date,
                supersedes=r.supersedes,
                superseded_by=lib.superseded_by(rid),
                is_this=rid == doc_id,
            )
        )
    current_id = lib.current_version(doc_id)
    current = index.get_document(current_id) if current_id else None
    interps = [index.get_document(i) for i in lib.interpretations_of(doc_id)]
    interprets_id = lib.interpreted_policy(doc_id)
    interprets = index.get_document(interprets_id) if interprets_id else None
    sections = [
        SectionOut(passage_id=p.id, heading_path=list(p.heading_path), start=p.start, end=p.end, text=p.text)
        for p in index.passages_of(doc_id)
    ]
    return DocumentOut(
        **DocSummary.of(doc).model_dump(),
        text=doc.text,
        effective_date=doc.effective_date,
        region=doc.region,
        level=doc.level,
        topics=list(doc.topics),
        collection=doc.collection,
        source_url=doc.url,
        metadata=dict(doc.metadata),
        outline=outline(doc.text),
        sections=sections,
        in_force=doc.status.in_force,
        current_version=DocSummary.of(current) if current is not None else None,
        revisions=revisions,
        interpretations=[DocSummary.of(d) for d in interps if d is not None],
        interprets=DocSummary.of(interprets) if interprets is not None else None,
    )
