"""Push jobs: plan (documents × profiles -> outbox rows) and deliver (outbox -> channel).

Planning labels each new or revised document once, matches it against every profile with
`corpus.profiles.match`, and inserts one outbox row per match with INSERT OR IGNORE on
(profile, document, version): re-planning is a no-op, a revised document (new version) is
pushed again with a reason that says 修订.

Delivery is at-least-once towards the channel and exactly-once in effect:

1. a row is claimed with a lease (its own transaction), so concurrent deliverers never
   take the same row;
2. it is sent with its idempotency key (the outbox key), and marked `sent` in its own
   transaction right after, so a job killed between rows loses nothing and repeats nothing;
3. a job killed between "send" and "mark sent" leaves that one row leased; when the lease
   runs out it is sent again with the same key, which the receiver dedupes (the inbox
   channel does it with INSERT OR IGNORE; SMS/e-mail gateways take a client message id).

A send that raises is retried with exponential back-off, up to `max_attempts`, then the
row is `failed` and reported by `GET /api/admin/push/status`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from corpus.models import Document
from corpus.profiles import MatchReason, Profile, match
from corpus.targeting import Targeting
from index.answer import document_link
from qa_service.push_store import OutboxEntry, PushMessage, PushStore, mask_error

logger = logging.getLogger(__name__)

Labeller = Callable[[Document], Targeting]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_LEASE_SECONDS = 300.0


def default_labeller() -> Labeller:
    """`corpus.push_labels.label_document`, imported only when a plan needs it."""
    try:
        from corpus.push_labels import label_document
    except ImportError as exc:
        raise ImportError(f"the push labeller corpus.push_labels.label_document is not available: {exc}") from exc
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


# -- plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanResult:
    documents: int  # documents looked at
    enqueued: int  # outbox rows added
    revised: tuple[str, ...] = ()  # doc ids planned as revisions
    skipped: dict[str, str] = field(default_factory=dict)  # doc id -> why not planned (Chinese)
    errors: dict[str, str] = field(default_factory=dict)  # doc id -> labeller error (left to plan again)


def plan(
    store: PushStore,
    docs: Iterable[Document],
    labeller: Labeller | None = None,
    profiles: Iterable[Profile] | None = None,
    get_document: Callable[[str], Document | None] | None = None,
    revised_ids: Iterable[str] = (),
) -> PlanResult:
    """Label, match and enqueue `docs`. Each document is committed on its own (rows + "planned" mark).

    `profiles` default to every stored profile; `get_document` looks up a superseded version's
    title for the reason; `revised_ids` are documents the caller knows replaced an earlier text.
    """
    docs = list(docs)
    revised_hint = set(revised_ids)
    versions = {d.id: document_version(d) for d in docs}
    # Noted first: a crash before a document is planned leaves it queued for the next plan.
    store.note_documents((d.id, versions[d.id], d.id in revised_hint) for d in docs)
    labeller = labeller or default_labeller()
    people = store.profiles() if profiles is None else list(profiles)
    enqueued, revised, skipped, errors = 0, [], {}, {}
    for doc in docs:
        version = versions[doc.id]
        if not doc.status.in_force:
            store.mark_planned(doc.id, version)
            skipped[doc.id] = "文件已失效或被替代，不推送"
            continue
        try:
            targeting = labeller(doc)
        except Exception as exc:  # one bad document must not stop the others
            errors[doc.id] = mask_error(f"{type(exc).__name__}: {exc}")
            logger.warning("push labeller failed on %s: %s", doc.id, errors[doc.id])
            continue
        is_revision = bool(doc.supersedes) or store.revision_noted(doc.id, version)
        old = get_document(doc.supersedes) if (get_document and doc.supersedes) else None
        entries = []
        for person in people:
            reason = match(person, targeting)
            if reason is not None:
                entries.append(_entry(doc, version, reason, is_revision, old.title if old else None))
        enqueued += store.enqueue(doc.id, version, entries)
        if is_revision:
            revised.append(doc.id)
    logger.info("push plan: %d documents, %d messages enqueued, %d label errors", len(docs), enqueued, len(errors))
    return PlanResult(len(docs), enqueued, tuple(revised), skipped, errors)


def _entry(doc: Document, version: str, reason: MatchReason, revised: bool, replaces: str | None) -> OutboxEntry:
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
    store: PushStore, profile: Profile, docs: Iterable[Document], labeller: Labeller, cache: LabelCache
) -> int:
    """Queue the policies in force now that match a new (or changed) profile; returns rows added.

    Residents expect to see what already concerns them, not only what is published after they
    subscribe. Rows share the outbox's unique key, so a later plan of the same version adds
    nothing, and documents' planning state is left alone.
    """
    entries = []
    for doc in docs:
        if not doc.status.in_force:
            continue
        version = document_version(doc)
        try:
            targeting = cache.get(doc, version, labeller)
        except Exception as exc:  # one bad document must not stop the others
            logger.warning("push labeller failed on %s: %s", doc.id, mask_error(f"{type(exc).__name__}: {exc}"))
            continue
        reason = match(profile, targeting)
        if reason is not None:
            entries.append(_entry(doc, version, reason, False, None))
    added = store.enqueue_backfill(entries)
    logger.info("push backfill for profile %s: %d messages enqueued", profile.profile_id, added)
    return added


def plan_pending(
    store: PushStore,
    get_document: Callable[[str], Document | None],
    labeller: Labeller | None = None,
    profiles: Iterable[Profile] | None = None,
) -> PlanResult:
    """Plan every document noted (ingested) but not planned yet, in its current version."""
    pending = store.unplanned_documents()
    docs: dict[str, Document] = {}
    skipped: dict[str, str] = {}
    for doc_id, version in pending:
        doc = get_document(doc_id)
        if doc is None:
            store.mark_planned(doc_id, version)
            skipped[doc_id] = "文件已不在政策库中"
        elif document_version(doc) != version:
            store.mark_planned(doc_id, version)  # an older text, replaced before it was planned
            docs[doc_id] = doc
        else:
            docs[doc_id] = doc
    result = plan(store, docs.values(), labeller, profiles, get_document)
    return PlanResult(result.documents, result.enqueued, result.revised, {**skipped, **result.skipped}, result.errors)


# -- deliver -------------------------------------------------------------------------------
class Channel(Protocol):
    """Sends one message. Must be idempotent on `message.key`; raises on failure."""

    name: str

    def send(self, message: PushMessage) -> None: ...


class InboxChannel:
    """The in-app inbox (站内信): writes the message to the store, once per key."""

    name = "inbox"

    def __init__(self, store: PushStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: PushMessage) -> None:
        self.store.add_to_inbox(message, self.clock())


@dataclass(frozen=True)
class DeliveryFailure:
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str
    final: bool  # True: marked failed, no more retries


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int
    failures: tuple[DeliveryFailure, ...] = ()


def deliver(
    store: PushStore,
    channel: Channel,
    limit: int = 100,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> DeliveryReport:
    """Send up to `limit` due messages, one claim / send / mark per row, in one pass over the outbox.

    Only `Exception`s from the channel count as failed attempts; anything else (a kill,
    KeyboardInterrupt) propagates and leaves the row leased, to be re-sent after the lease.
    """
    if not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be 1..100000, got {limit}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if retry_seconds < 0 or lease_seconds <= 0:
        raise ValueError(f"retry_seconds must be >= 0 and lease_seconds > 0, got {retry_seconds}, {lease_seconds}")
    owner = uuid.uuid4().hex
    sent = retrying = failed = 0
    failures: list[DeliveryFailure] = []
    last_id = 0  # one pass in id order: a row that fails now waits for a later run
    for _ in range(limit):
        now = clock()
        message = store.claim_next(owner, now, lease_seconds, after_id=last_id)
        if message is None:
            break
        last_id = message.id
        try:
            channel.send(message)
        except Exception as exc:
            error = mask_error(f"{type(exc).__name__}: {exc}")
            status = store.record_failure(message.id, error, clock(), max_attempts, retry_seconds)
            if status == "gone":  # the subscriber deleted their profile meanwhile
                continue
            final = status == "failed"
            failed += final
            retrying += not final
            failures.append(
                DeliveryFailure(message.key, message.profile_id, message.doc_id, message.attempts + 1, error, final)
            )
            logger.warning(
                "push %s to profile %s via %s failed (attempt %d%s): %s",
                message.key,
                message.profile_id,
                getattr(channel, "name", "channel"),
                message.attempts + 1,
                ", giving up" if final else "",
                error,
            )
            continue
        store.mark_sent(message.id, clock())
        sent += 1
    if sent or failures:
        logger.info("push deliver: %d sent, %d to retry, %d failed", sent, retrying, failed)
    return DeliveryReport(sent, retrying, failed, tuple(failures))


class PeriodicDeliverer:
    """Runs `deliver` every `interval` seconds in a daemon thread, so the service sends on its own.

    Deliveries are crash-safe on their own (leases, idempotency keys), so stopping the thread
    between or during runs loses nothing. One failed run is logged and the next one retries.
    """

    def __init__(self, run: Callable[[], DeliveryReport], interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self._run = run
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="push-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._run()
            except Exception:  # keep the loop alive; the outbox keeps what was not sent
                logger.exception("scheduled push delivery failed")
