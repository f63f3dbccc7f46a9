"""Plain data and interfaces of the retrieval stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from corpus.models import Document, Passage, Status


@dataclass(frozen=True)
class Hit:
    """A scored passage. `scores` keeps each signal's contribution for explanation."""

    passage: Passage
    score: float
    scores: dict[str, float] = field(default_factory=dict, compare=False, hash=False)

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id


@dataclass(frozen=True)
class Filters:
    """Metadata constraints applied before ranking. Empty fields mean "any".

    A filter that matches no document yields no hits, never all of them.
    """

    status: frozenset[Status] = frozenset()
    issuer: str | None = None  # substring match on the issuing body
    date_from: str | None = None  # ISO date, inclusive, on publish_date
    date_to: str | None = None
    region: str | None = None  # substring match
    collection: str | None = None
    topic: str | None = None
    doc_type: str | None = None
    doc_ids: frozenset[str] | None = None  # restrict to these documents

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            v = getattr(self, name)
            if v is not None and not _is_iso_date(v):
                raise ValueError(f"{name} must be an ISO date YYYY-MM-DD, got {v!r}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        object.__setattr__(
            self, "status", frozenset(s if isinstance(s, Status) else Status.from_str(s) for s in self.status)
        )

    def is_empty(self) -> bool:
        return not any(
            (
                self.status,
                self.issuer,
                self.date_from,
                self.date_to,
                self.region,
                self.collection,
                self.topic,
                self.doc_type,
                self.doc_ids is not None,
            )
        )

    def accepts(self, doc: Document) -> bool:
        if self.status and doc.status not in self.status:
            return False
        if self.issuer and not (doc.issuer and self.issuer in doc.issuer):
            return False
        if self.date_from and not (doc.publish_date and doc.publish_date >= self.date_from):
            return False
        if self.date_to and not (doc.publish_date and doc.publish_date[:10] <= self.date_to):
            return False
        if self.region and not (doc.region and self.region in doc.region):
            return False
        if self.collection and doc.collection != self.collection:
            return False
        if self.topic and not any(self.topic in t for t in doc.topics):
            return False
        if self.doc_type and doc.doc_type != self.doc_type:
            return False
        if self.doc_ids is not None and doc.id not in self.doc_ids:
            return False
        return True


def distinct_batch(docs: Sequence[Document]) -> None:
    """One batch may hold a document id once: which copy would win is otherwise undefined."""
    seen: set[str] = set()
    for d in docs:
        if d.id in seen:
            raise ValueError(f"duplicate document id in one batch: {d.id!r}")
        seen.add(d.id)


def _is_iso_date(v: str) -> bool:
    import datetime as _dt

    try:
        _dt.date.fromisoformat(v)
    except (TypeError, ValueError):
        return False
    return True


@runtime_checkable
class Retriever(Protocol):
    """Anything that ranks passages for a query."""

    def search(self, query: str, top_k: int = 10, filters: Filters | None = None) -> list[Hit]: ...


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension.

    Query and passage sides are separate because models such as e5 prefix them
    differently ("query: " / "passage: ").
    """

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...
