"""The retrieval interface both backends implement, and the factory that picks one.

`embedded` is `index.engine.PolicyIndex` (bm25s + faiss in process, one directory on disk);
`milvus` is `index.milvus.MilvusIndex` (Milvus Lite for a local path, a Milvus server or
cluster for an http(s) URI). Both chunk, tokenize, look up, fuse, floor and demote the same
way, so a query gets the same answer from either (tests/index/test_backends.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from corpus.models import ChoiceEnum, Document, Passage
from index.config import IndexConfig, SearchMode
from index.types import Encoder, Filters, Hit

Progress = Callable[[str, int, int], None]
Prepare = Callable[[Iterable[Document]], Iterable[Document]]
MAX_TOP_K = 1000


class Backend(ChoiceEnum):
    EMBEDDED = "embedded"
    MILVUS = "milvus"


@runtime_checkable
class SearchIndex(Protocol):
    """The search side of a policy index: what the service, the answerer and eval call."""

    config: IndexConfig
    encoder: Encoder | None
    corpus_hash: str | None

    @property
    def documents(self) -> Mapping[str, Document]: ...

    def __len__(self) -> int: ...

    def add(self, docs: Iterable[Document], progress: Progress | None = None) -> None:
        """Add documents; one whose id is indexed already is replaced (its old passages go)."""

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Remove documents; unknown ids raise KeyError. A removed document is never returned."""

    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None, mode: SearchMode | str | None = None
    ) -> list[Hit]: ...

    def lookup(self, query: str) -> list[Document]: ...

    def get_document(self, doc_id: str) -> Document | None: ...

    def passages_of(self, doc_id: str) -> list[Passage]: ...

    def tokenize(self, text: str) -> list[str]: ...


def check_query(query: object, top_k: int, max_chars: int) -> str:
    """The query, stripped, or ValueError saying what is wrong (same rules as PolicyIndex.search)."""
    if not isinstance(query, str):
        raise ValueError(f"query must be a string, got {type(query).__name__}")
    query = query.strip()
    if not query:
        raise ValueError("query must not be empty")
    if len(query) > max_chars:
        raise ValueError(f"query must be at most {max_chars} characters, got {len(query)}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be 1..{MAX_TOP_K}, got {top_k}")
    return query


def open_or_build(
    backend: Backend | str,
    corpus_path: str | Path,
    cache_root: str | Path,
    config: IndexConfig,
    encoder: Encoder | None = None,
    progress: Progress | None = None,
    prepare: Prepare | None = None,
    milvus_uri: str | None = None,
    collection: str = "policy",
) -> SearchIndex:
    """The index of a corpus on the chosen backend, reused when its corpus, config and encoder match.

    Embedded: a directory under `cache_root`. Milvus: collections named `collection` at
    `milvus_uri` (a local path is Milvus Lite); vectors are cached under `cache_root/embeddings`
    for both, so switching backends never re-encodes.
    """
    backend = backend if isinstance(backend, Backend) else Backend.from_str(backend)
    if backend is Backend.EMBEDDED:
        from index.engine import PolicyIndex

        return PolicyIndex.open_or_build(corpus_path, cache_root, config, encoder, progress=progress, prepare=prepare)
    from index.milvus import MilvusIndex

    if not milvus_uri:
        raise ValueError("the milvus backend needs a URI: a local path (Milvus Lite) or http://host:19530")
    return MilvusIndex.open_or_build(
        corpus_path, milvus_uri, config, encoder, cache_root=cache_root, progress=progress, prepare=prepare,
        collection=collection,
    )  # fmt: skip
