"""What the service loads once and hands to routes: the index snapshot and the stores.

A `Snapshot` (index + library + answerer + FAQ matcher) is immutable once built. A
re-index or ingest builds a new one off to the side and swaps the reference under a
lock, so requests in flight finish on the snapshot they started with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from corpus.models import Document
from corpus.push.columnar import ColumnarMatcher
from corpus.push.profiles import Profile
from index.answer import AnswerConfig, Answerer
from index.pipeline import QAPipeline, build_pipeline
from qa_service.conversation import ConversationStore
from qa_service.faq import FaqItem
from qa_service.metrics import Metrics
from qa_service.push.delivery import Channel, InboxChannel
from qa_service.push.jobs import PlanJobs, Planning
from qa_service.push.planner import LabelCache, Labeller
from qa_service.push.store import PushStore
from qa_service.push.vectors import Dequantized, DescriptionVector, encode_descriptions
from qa_service.ratelimit import RateLimiter
from qa_service.settings import Settings
from qa_service.store import Store

logger = logging.getLogger(__name__)


class ServiceIndex(Protocol):
    """The PolicyIndex surface the service uses."""

    def search(self, query: str, top_k: int = 10, filters: Any = None, mode: Any = None) -> list[Any]: ...

    def lookup(self, query: str) -> list[Document]: ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def passages_of(self, doc_id: str) -> list[Any]: ...

    def tokenize(self, text: str) -> list[str]: ...

    @property
    def documents(self) -> Any: ...


class LibraryView:
    """Revision chains and interpretation links as document ids.

    Wraps `corpus.library.Library` when it is available, else follows the
    `supersedes` / `version_group` / `interprets` fields of the documents.
    """

    def __init__(self, docs: Iterable[Document], library: Any = None) -> None:
        self._docs = {d.id: d for d in docs}
        self._lib = library
        self._superseded_by: dict[str, str] = {}
        self._groups: dict[str, list[str]] = {}
        self._interpretations: dict[str, list[str]] = {}
        for d in self._docs.values():
            if d.supersedes:
                self._superseded_by[d.supersedes] = d.id
            if d.version_group:
                self._groups.setdefault(d.version_group, []).append(d.id)
            if d.interprets:
                self._interpretations.setdefault(d.interprets, []).append(d.id)

    @staticmethod
    def _ids(values: Any) -> list[str]:
        if values is None:
            return []
        if isinstance(values, (str, Document)):
            values = [values]
        return [v.id if isinstance(v, Document) else str(v) for v in values]

    def _call(self, name: str, doc_id: str) -> Any:
        fn = getattr(self._lib, name, None) if self._lib is not None else None
        return fn(doc_id) if callable(fn) else NotImplemented

    def revisions(self, doc_id: str) -> list[str]:
        """All versions of the document, oldest first (itself included)."""
        got = self._call("revisions", doc_id)
        if got is not NotImplemented:
            return self._ids(got)
        doc = self._docs.get(doc_id)
        if doc is None:
            return []
        members = set(self._groups.get(doc.version_group, [])) if doc.version_group else set()
        members.add(doc_id)
        # Walk supersedes links both ways so chains without a version group still show.
        stack = list(members)
        while stack:
            d = self._docs[stack.pop()]
            for nxt in (d.supersedes, self._superseded_by.get(d.id)):
                if nxt and nxt in self._docs and nxt not in members:
                    members.add(nxt)
                    stack.append(nxt)
        return sorted(members, key=lambda i: (self._docs[i].publish_date or self._docs[i].effective_date or "", i))

    def superseded_by(self, doc_id: str) -> str | None:
        return self._superseded_by.get(doc_id)

    def current_version(self, doc_id: str) -> str | None:
        got = self._call("current_version", doc_id)
        if got is not NotImplemented:
            ids = self._ids(got)
            return ids[0] if ids else None
        chain = self.revisions(doc_id)
        current = [i for i in chain if self._docs[i].status.in_force]
        return current[-1] if current else None

    def interpretations_of(self, doc_id: str) -> list[str]:
        got = self._call("interpretations_of", doc_id)
        if got is not NotImplemented:
            return self._ids(got)
        return list(self._interpretations.get(doc_id, []))

    def interpreted_policy(self, doc_id: str) -> str | None:
        got = self._call("interpreted_policy", doc_id)
        if got is not NotImplemented:
            ids = self._ids(got)
            return ids[0] if ids else None
        doc = self._docs.get(doc_id)
        return doc.interprets if doc and doc.interprets in self._docs else None


@dataclass(frozen=True)
class Snapshot:
    index: Any  # PolicyIndex (or a stand-in with the same surface)
    library: LibraryView
    pipeline: QAPipeline  # follow-ups, FAQ, answer selection, abstention (index.pipeline)

    @property
    def answerer(self) -> Answerer:
        return self.pipeline.answerer

    @property
    def faq(self) -> Any:
        return self.pipeline.faq


def make_snapshot(index: Any, settings: Settings, faq_items: Iterable[FaqItem], library: Any = None) -> Snapshot:
    docs = list(index.documents.values())
    view = LibraryView(docs, library)
    config = AnswerConfig(
        top_k=settings.top_k,
        answer_passages=min(5, settings.top_k),
        # Unless set (QA_ABSTAIN_THRESHOLD): the shipped support model's threshold, else the rules' default.
        threshold=settings.abstain_threshold if "abstain_threshold" in settings.model_fields_set else None,
        hotline=settings.hotline,
        dense_weight=settings.abstain_dense_weight,
    )
    pipeline = build_pipeline(index, config, faq_items, settings.faq_threshold, versions=view)
    return Snapshot(index=index, library=view, pipeline=pipeline)


class AppState:
    """Everything routes need. `snapshot()` is the one read path; `swap()` the one write path."""

    def __init__(
        self,
        settings: Settings,
        snapshot: Snapshot,
        store: Store,
        conversations: ConversationStore | None = None,
        limiter: RateLimiter | None = None,
        library_factory: Callable[[list[Document]], Any] | None = None,
        push_store: PushStore | None = None,
        push_channel: Channel | None = None,
        push_labeller: Labeller | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.conversations = conversations or ConversationStore()
        self.limiter = limiter or RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.library_factory = library_factory
        self._snapshot = snapshot
        self.snapshot_time = time.time()  # when the served index was swapped in (metrics: index age)
        self.metrics = Metrics()
        self.metrics.watch(lambda: self)
        self._lock = threading.Lock()
        self.write_lock = threading.Lock()  # one re-index / ingest at a time
        # Precise push: profiles and outbox; the channel defaults to the in-app inbox, the labeller
        # (None) to corpus.push.labels.label_document, imported when a plan first needs it.
        self.push_store = push_store or PushStore(url=settings.resolved_push_database_url)
        # name -> channel for delivery (each outbox row names its channel); planning writes rows for these
        # channels only (a row for a channel without settings would wait forever). A channel handed in, or
        # assigned to `push_channel` later, takes every row instead.
        self.push_channels: Mapping[str, Channel] | None = None
        self._push_channel: Channel = push_channel or InboxChannel(self.push_store)
        if push_channel is None:
            from qa_service.push.channels import build_channels

            self.push_channels = build_channels(settings, self.push_store)
            self.push_store.enable_channels(self.push_channels)
        self.push_labeller = push_labeller
        self.push_labels = LabelCache()  # back-filling new subscribers labels each document once
        self._push_matcher: ColumnarMatcher | None = None  # the stored profiles as bitmaps, loaded on first use
        self._push_matcher_encoder: str | None = None  # whose description vectors it holds
        self._push_matcher_lock = threading.Lock()
        # Planning runs as jobs (ingest and the admin route queue them); the lifespan starts their thread.
        self.push_jobs = PlanJobs(self.push_store, self._push_planning)

    @property
    def push_channel(self) -> Channel:
        return self._push_channel

    @push_channel.setter
    def push_channel(self, channel: Channel) -> None:
        self._push_channel = channel
        self.push_channels = None

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _push_planning(self) -> Planning:
        from qa_service.push.service import planning  # the use cases import this module

        return planning(self)

    def push_encoder(self) -> Any:
        """The served index's encoder (descriptions and documents are ranked in its space), None without one."""
        return getattr(self._snapshot.index, "encoder", None) if self._snapshot is not None else None

    def push_matcher(self) -> ColumnarMatcher:
        """Every stored profile in the columnar matcher with its description vector, loaded once; the push
        service keeps it current. Reloaded when the store's count disagrees (profiles written by another
        process) or the index's encoder changed.
        """
        encoder = self.push_encoder()
        name = getattr(encoder, "name", None)
        with self._push_matcher_lock:
            m = self._push_matcher
            if m is None or len(m) != self.push_store.count_profiles() or self._push_matcher_encoder != name:
                m = self._push_matcher = self._load_push_matcher(encoder)
                self._push_matcher_encoder = name
            return m

    def _load_push_matcher(self, encoder: Any) -> ColumnarMatcher:
        if encoder is None:
            return ColumnarMatcher.build(self.push_store.profiles())
        pairs = self.push_store.profiles_with_vectors(encoder.name)
        # Descriptions without a vector of this encoder (stored before 0003, or by another encoder): encoded now.
        stale = [i for i, (p, v) in enumerate(pairs) if v is None and p.description.strip()]
        for s in range(0, len(stale), 256):
            part = stale[s : s + 256]
            texts = [pairs[i][0].description for i in part]
            fresh = encode_descriptions(encoder, texts)
            self.push_store.set_description_vectors(
                (pairs[i][0].profile_id, t, v) for i, t, v in zip(part, texts, fresh, strict=True) if v is not None
            )
            for i, v in zip(part, fresh, strict=True):
                pairs[i] = (pairs[i][0], v)
        if stale:
            logger.info("push matcher: %d descriptions encoded with %s", len(stale), encoder.name)
        rows = np.zeros((len(pairs), encoder.dim), dtype=np.int8)
        scales = np.ones(len(pairs), dtype=np.float32)
        for i, (_, v) in enumerate(pairs):
            if v is not None and len(v.data) == encoder.dim:
                rows[i] = np.frombuffer(v.data, dtype=np.int8)
                scales[i] = v.scale
        return ColumnarMatcher.build((p for p, _ in pairs), Dequantized(rows, scales))

    def push_profile_saved(self, profile: Profile, vector: DescriptionVector | None = None) -> None:
        """A profile created or edited in the store: the loaded matcher follows (a later load reads the store)."""
        with self._push_matcher_lock:
            m = self._push_matcher
            if m is not None:
                usable = vector is not None and m.dim and vector.encoder == self._push_matcher_encoder
                m.add(profile, vector.array() if usable and vector is not None else None)

    def push_profile_deleted(self, profile_id: str) -> None:
        with self._push_matcher_lock:
            if self._push_matcher is not None:
                self._push_matcher.remove(profile_id)

    def swap(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot
            self.snapshot_time = time.time()

    def faq_items(self) -> list[FaqItem]:
        return [FaqItem(e.id, e.question, e.answer, e.doc_id) for e in self.store.faq_entries()]

    def rebuild_snapshot(self, index: Any) -> Snapshot:
        docs = list(index.documents.values())
        library = self.library_factory(docs) if self.library_factory else None
        return make_snapshot(index, self.settings, self.faq_items(), library)

    def refresh_faq(self) -> None:
        snap = self._snapshot
        self.swap(replace(snap, pipeline=snap.pipeline.with_faq(self.faq_items())))
