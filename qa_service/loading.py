"""Start-up and re-index: Settings -> encoder -> PolicyIndex (+ ingested changes replayed).

Documents added or repealed through the admin API are appended to
`<data_dir>/ingest.jsonl` and replayed on top of the corpus at every start, so they
survive restarts without touching the corpus file.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus.library import Library, link_documents
from corpus.models import Document, Status
from index.config import FusionMethod, IndexConfig, SearchMode
from index.engine import PolicyIndex
from qa_service.settings import Settings

logger = logging.getLogger(__name__)
_log_lock = threading.Lock()


def index_config(settings: Settings) -> IndexConfig:
    return IndexConfig(
        chunk_max_chars=settings.chunk_max_chars,
        mode=SearchMode.from_str(settings.search_mode),
        fusion=FusionMethod.from_str(settings.fusion),
        bm25_weight=settings.bm25_weight,
        bm25_weight_slope=settings.bm25_weight_slope,
        rrf_k=settings.rrf_k,
    )


def load_encoder(settings: Settings) -> Any:
    """The configured encoder, or None (BM25 only) with a clear warning if it cannot load."""
    if settings.encoder == "none":
        return None
    try:
        from index.encoders import load_encoder as _load
    except ImportError:
        logger.warning("index.encoders is not available; serving with BM25 only")
        return None
    if settings.encoder in ("onnx", "st", "sentence-transformers") and not Path(settings.model_path).exists():
        logger.warning(
            "embedding model not found at %s; serving with BM25 only. Convert it first (see README, `make model`).",
            settings.model_path,
        )
        return None
    kind = "sentence-transformers" if settings.encoder == "st" else settings.encoder
    try:
        return _load(kind, settings.model_path)
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        logger.warning("could not load the %s encoder (%s); serving with BM25 only", settings.encoder, exc)
        return None


def ingest_log_path(settings: Settings) -> Path:
    return settings.data_dir / "ingest.jsonl"


def append_ingest_log(settings: Settings, ops: Iterable[dict[str, Any]]) -> None:
    path = ingest_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _log_lock, path.open("a", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op, ensure_ascii=False) + "\n")


def replay_ingest_log(settings: Settings, index: PolicyIndex) -> int:
    """Apply logged upserts and repeals to a freshly opened index; returns how many ops."""
    path = ingest_log_path(settings)
    if not path.is_file():
        return 0
    n = 0
    pending: dict[str, Document] = {}  # applied in one batch: each add recomputes BM25 statistics
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            op = json.loads(line)
            if op.get("op") == "upsert":
                doc = Document.from_dict(op["doc"])
                pending.pop(doc.id, None)
                pending[doc.id] = doc
            elif op.get("op") == "repeal":
                doc = pending.get(op["id"]) or index.get_document(op["id"])
                if doc is not None:
                    pending[doc.id] = repealed(doc)
            n += 1
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("skipping bad ingest-log line: %s", exc)
    if pending:
        index.add(pending.values())
    return n


def repealed(doc: Document) -> Document:
    return replace(doc, status=Status.EXPIRED, metadata={**doc.metadata, "repealed": True})


def open_index(settings: Settings, encoder: Any = None) -> PolicyIndex:
    # Linked before indexing, so the saved index already carries statuses and links and a restart
    # only re-links what the ingest log changed.
    index = PolicyIndex.open_or_build(
        settings.corpus_path, settings.resolved_index_dir, index_config(settings), encoder, prepare=link_documents
    )
    n = replay_ingest_log(settings, index)
    if n:
        logger.info("replayed %d ingest operations", n)
    return index


def rebuild_with(index: PolicyIndex, upserts: list[Document], repeal_ids: list[str], settings: Settings) -> PolicyIndex:
    """A new index = old documents + upserts - repeals, built off to the side (embeddings cached)."""
    docs = dict(index.documents)
    for d in upserts:
        docs[d.id] = d
    for i in repeal_ids:
        if i in docs:
            docs[i] = repealed(docs[i])
    new = PolicyIndex.build(
        docs.values(), index.config, index.encoder, cache_dir=settings.resolved_index_dir / "embeddings"
    )
    return new


def link_versions(index: Any) -> int:
    """Let the policy library set status / supersedes / interprets, and re-index what changed.

    Superseded versions then rank below the current one and answers built on them say so.
    """
    lib = Library(index.documents.values())
    changed = [d for d in lib.documents.values() if d != index.get_document(d.id)]
    if changed:
        logger.info("policy library linked %d documents (versions, interpretations)", len(changed))
        index.add(changed)
    return len(changed)
