"""Push planning: documents × profiles -> outbox rows.

Planning labels each new or revised document once, matches it against every profile with
`corpus.push.matching.match` (or the columnar matcher: the same pairs, ranked by description
vectors when it holds them), and inserts one outbox row per match and channel, ON CONFLICT DO
NOTHING on (profile, document, version, channel): re-planning is a no-op, a revised document (new
version) is pushed again with a reason that says 修订. The service runs it in jobs (`qa_service.push.jobs`).
A new or changed subscriber is back-filled with the policies in force that already match them.
Delivery of the rows is `qa_service.push.delivery`.
With a `ReviewPolicy` (先审后发) a document that must be reviewed gets `held` rows and a waiting
review instead (`qa_service.push.gate`); a version with a review is matched on the review's
labels, and one dropped or superseded is not pushed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from corpus.models import Document
from corpus.push.columnar import ColumnarMatcher
from corpus.push.matching import MatchReason, match
from corpus.push.profiles import Profile
from corpus.push.targeting import Targeting
from index.answer import document_link
from qa_service.push.gate import ReviewPolicy
from qa_service.push.records import OutboxEntry, Review, mask_error
from qa_service.push.store import PushStore

logger = logging.getLogger(__name__)

Labeller = Callable[[Document], Targeting]
DocVector = Callable[[Document], "np.ndarray | None"]  # a document's passage vector, for ranking its matches


def default_labeller(encoder: Any = None) -> Labeller:
    """The learned labeller (`corpus.push.learned`: learned topics and audience, calibrated confidence)
    when `encoder` is the one its models were trained with; else `corpus.push.labels.label_document`
    (rules, confidence None). Imported only when a plan needs it."""
    try:
        from corpus.push.labels import label_document
        from corpus.push.learned import learned_labeller
    except ImportError as exc:
        raise ImportError(f"the push labeller corpus.push.labels.label_document is not available: {exc}") from exc
    learned = learned_labeller(encoder)
    if learned is not None:
        logger.info("push labeller: learned models on encoder %s", learned.encoder.name)
        return learned
    return label_document


def document_version(doc: Document) -> str:
    """Content hash of what a reader sees; status and links are left out so linking is not a revision."""
    content = [doc.title, doc.text, doc.doc_number, doc.issuer, doc.publish_date, doc.effective_date]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def push_reason(reason: MatchReason, revised: bool, replaces: str | None = None) -> str:
    """The Chinese reason a subscriber reads; a revision says so first."""
    if not revised:
        return reason.text + "。"
    what = f"该政策已修订（替代《{replaces}》）" if replaces else "该政策已修订"
    return f"{what}，请以新版本为准。{reason.text}。"


@dataclass(frozen=True)
class PlanResult:
    documents: int  # documents looked at
    enqueued: int  # outbox rows added
    revised: tuple[str, ...] = ()  # doc ids planned as revisions
    skipped: dict[str, str] = field(default_factory=dict)  # doc id -> why not planned (Chinese)
    errors: dict[str, str] = field(default_factory=dict)  # doc id -> labeller error (left to plan again)
    held: tuple[str, ...] = ()  # doc ids whose rows wait for an operator's review


def plan(
    store: PushStore,
    docs: Iterable[Document],
    labeller: Labeller | None = None,
    profiles: Iterable[Profile] | None = None,
    get_document: Callable[[str], Document | None] | None = None,
    revised_ids: Iterable[str] = (),
    review: ReviewPolicy | None = None,
    matcher: ColumnarMatcher | None = None,
    doc_vector: DocVector | None = None,
) -> PlanResult:
    """Label, match and enqueue `docs`. Each document is committed on its own (rows + "planned" mark).

    `profiles` default to every stored profile; `get_document` looks up a superseded version's
    title for the reason; `revised_ids` are documents the caller knows replaced an earlier text;
    `review` None sends every match (decisions already taken are honoured either way);
    `matcher`, the stored profiles as bitmaps (kept by the service), replaces loading them all;
    with description vectors in it and `doc_vector`, each document's rows are scored and written
    best-matching first (the pairs stay exactly `match()`'s; the score only orders them).
    """
    docs = list(docs)
    revised_hint = set(revised_ids)
    versions = {d.id: document_version(d) for d in docs}
    # Noted first: a crash before a document is planned leaves it queued for the next plan.
    store.note_documents((d.id, versions[d.id], d.id in revised_hint) for d in docs)
    labeller = labeller or default_labeller()
    people = list(profiles) if profiles is not None else matcher if matcher is not None else store.profiles()
    enqueued, revised, skipped, errors, held = 0, [], {}, {}, []
    for doc in docs:
        version = versions[doc.id]
        if not doc.status.in_force:
            store.mark_planned(doc.id, version)
            skipped[doc.id] = "文件已失效或被替代，不推送"
            continue
        decision = store.review(doc.id, version)
        if decision is not None and decision.status in CLOSED_REVIEWS:
            store.mark_planned(doc.id, version)
            skipped[doc.id] = "审核人员已撤下该文件的推送"
            continue
        try:
            targeting = decision.targeting if decision is not None else labeller(doc)
        except Exception as exc:  # one bad document must not stop the others
            errors[doc.id] = mask_error(f"{type(exc).__name__}: {exc}")
            logger.warning("push labeller failed on %s: %s", doc.id, errors[doc.id])
            continue
        is_revision = bool(doc.supersedes) or store.revision_noted(doc.id, version)
        old = get_document(doc.supersedes) if (get_document and doc.supersedes) else None
        query = _query(people, doc, doc_vector)
        entries = match_entries(doc, version, targeting, people, is_revision, old.title if old else None, query)
        hold: Review | None = None
        if decision is not None:
            hold = decision if decision.status == "waiting" else None  # approved: new matches go out too
        elif review is not None:
            hold = review.hold(doc.id, version, targeting, len(entries))
        enqueued += store.enqueue(doc.id, version, entries, hold)
        if hold is not None:
            held.append(doc.id)
        if is_revision:
            revised.append(doc.id)
    logger.info("push plan: %d documents, %d messages enqueued (%d documents held for review), %d label errors",
                len(docs), enqueued, len(held), len(errors))  # fmt: skip
    return PlanResult(len(docs), enqueued, tuple(revised), skipped, errors, tuple(held))


CLOSED_REVIEWS = ("dropped", "superseded")


def match_entries(
    doc: Document,
    version: str,
    targeting: Targeting,
    people: Iterable[Profile] | ColumnarMatcher,
    revised: bool = False,
    replaces: str | None = None,
    query: np.ndarray | None = None,
) -> list[OutboxEntry]:
    """One outbox entry per profile `targeting` matches; with `query` (the document's vector, `people` a
    matcher holding description vectors) scored and best first."""
    if not isinstance(people, ColumnarMatcher):
        reasons = [r for person in people if (r := match(person, targeting)) is not None]
        return [_entry(doc, version, reason, revised, replaces) for reason in reasons]
    found = people.match(targeting, query if people.dim else None)  # bitmap algebra, the same pairs as match()
    reasons = found.reasons()  # best first when scored
    if found.scores is None:
        return [_entry(doc, version, reason, revised, replaces) for reason in reasons]
    # 0.0 exactly is a profile without a description (a zero row): no score, after every scored match
    # (a dissimilar description may score below 0)
    scores = [None if s == 0.0 else round(s, 6) for s in found.scores[found.order()].tolist()]
    ranked = sorted(zip(reasons, scores, strict=True), key=lambda rs: rs[1] is None)  # stable: best first stays
    return [_entry(doc, version, r, revised, replaces, s) for r, s in ranked]


def _query(people: Any, doc: Document, doc_vector: DocVector | None) -> np.ndarray | None:
    if doc_vector is None or not isinstance(people, ColumnarMatcher) or not people.dim:
        return None
    return doc_vector(doc)


def _entry(
    doc: Document, version: str, reason: MatchReason, revised: bool, replaces: str | None, score: float | None = None
) -> OutboxEntry:
    return OutboxEntry(
        profile_id=reason.profile_id,
        doc_id=doc.id,
        doc_version=version,
        title=doc.title or "（无标题）",
        link=document_link(doc.id),
        reason=push_reason(reason, revised, replaces),
        doc_number=doc.doc_number,
        evidence=reason.evidence,
        revised=revised,
        score=score,
    )


class LabelCache:
    """Push labels per (document, version), so back-filling each new subscriber labels a library once."""

    def __init__(self) -> None:
        self._labels: dict[tuple[str, str], Targeting] = {}
        self._lock = threading.Lock()

    def get(self, doc: Document, version: str, labeller: Labeller) -> Targeting:
        key = (doc.id, version)
        with self._lock:
            hit = self._labels.get(key)
        if hit is None:
            hit = labeller(doc)
            with self._lock:
                self._labels[key] = hit
        return hit


def backfill(
    store: PushStore,
    profile: Profile,
    docs: Iterable[Document],
    labeller: Labeller,
    cache: LabelCache,
    review: ReviewPolicy | None = None,
) -> int:
    """Queue the policies in force now that match a new (or changed) profile; returns rows added.

    Residents expect to see what already concerns them, not only what is published after they
    subscribe. Rows share the outbox's unique key, so a later plan of the same version adds
    nothing, and documents' planning state is left alone. Review decisions apply as in `plan`:
    a waiting document's row is held, a dropped one is left out, and with `review` a document
    never reviewed whose labels are not confident enough opens a review.
    """
    decisions = {(r.doc_id, r.version): r for r in store.reviews(status=None)}
    entries, held, opened = [], [], []
    for doc in docs:
        if not doc.status.in_force:
            continue
        version = document_version(doc)
        decision = decisions.get((doc.id, version))
        if decision is not None and decision.status in CLOSED_REVIEWS:
            continue
        try:
            targeting = decision.targeting if decision is not None else cache.get(doc, version, labeller)
        except Exception as exc:  # one bad document must not stop the others
            logger.warning("push labeller failed on %s: %s", doc.id, mask_error(f"{type(exc).__name__}: {exc}"))
            continue
        reason = match(profile, targeting)
        if reason is None:
            continue
        entry = _entry(doc, version, reason, False, None)
        hold = review.hold(doc.id, version, targeting, 1) if (decision is None and review is not None) else None
        if hold is not None:
            opened.append(hold)
        if hold is not None or (decision is not None and decision.status == "waiting"):
            held.append(entry)
        else:
            entries.append(entry)
    added = store.enqueue_backfill(entries, held, opened)
    logger.info("push backfill for profile %s: %d messages enqueued", profile.profile_id, added)
    return added


def plan_pending(
    store: PushStore,
    get_document: Callable[[str], Document | None],
    labeller: Labeller | None = None,
    profiles: Iterable[Profile] | None = None,
    review: ReviewPolicy | None = None,
    matcher: ColumnarMatcher | None = None,
    doc_vector: DocVector | None = None,
) -> PlanResult:
    """Plan every document noted (ingested) but not planned yet, in its current version."""
    docs, skipped = pending_documents(store, get_document)
    result = plan(store, docs, labeller, profiles, get_document, review=review, matcher=matcher, doc_vector=doc_vector)
    return PlanResult(result.documents, result.enqueued, result.revised, {**skipped, **result.skipped}, result.errors,
                      result.held)  # fmt: skip


def pending_documents(
    store: PushStore, get_document: Callable[[str], Document | None]
) -> tuple[list[Document], dict[str, str]]:
    """The documents noted and not planned yet, in their current version; versions replaced before they
    were planned, and documents gone from the library, are marked planned (with why, for the latter)."""
    docs: dict[str, Document] = {}
    skipped: dict[str, str] = {}
    for doc_id, version in store.unplanned_documents():
        doc = get_document(doc_id)
        if doc is None:
            store.mark_planned(doc_id, version)
            skipped[doc_id] = "文件已不在政策库中"
        elif document_version(doc) != version:
            store.mark_planned(doc_id, version)  # an older text, replaced before it was planned
            docs[doc_id] = doc
        else:
            docs[doc_id] = doc
    return list(docs.values()), skipped
