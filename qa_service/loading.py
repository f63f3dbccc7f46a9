"""Start-up and re-index: Settings -> encoder -> PolicyIndex (+ ingested changes replayed).

Documents added or repealed through the admin API are appended to
`<data_dir>/ingest.jsonl` and replayed on top of the corpus at every start, so they
survive restarts without touching the corpus file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus.library import Library, link_documents
from corpus.models import Document, Status
from index.config import FusionMethod, IndexConfig, Ranking, SearchMode
from index.engine import IndexFormatError, PolicyIndex
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
        ranking=Ranking.from_str(settings.ranking),
        ranker_path=str(settings.ranker_path) if settings.ranker_path else None,
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


def _encode_op(op: dict[str, Any]) -> bytes:
    return (json.dumps(op, ensure_ascii=False) + "\n").encode("utf-8")


def append_ingest_log(settings: Settings, ops: Iterable[dict[str, Any]]) -> None:
    """Append one batch of operations, all or nothing.

    A batch of several operations is one line (`{"op": "batch", "ops": [...]}`), so a line torn by a
    crash loses the whole batch, never half of it. It is encoded before anything is written and goes
    out in one write + fsync; if the write fails (disk full) the file is cut back to its old length.
    A torn last line left by a crash is closed with a newline first, so it never swallows the batch.
    """
    ops = list(ops)
    if not ops:
        return
    payload = _encode_op(ops[0] if len(ops) == 1 else {"op": "batch", "ops": ops})
    path = ingest_log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _log_lock, path.open("ab") as f:
        size = f.tell()
        if size:
            with path.open("rb") as r:
                r.seek(size - 1)
                if r.read(1) != b"\n":
                    payload = b"\n" + payload
        try:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.truncate(size)
            raise


def read_ingest_log(path: Path, damaged: list[int] | None = None) -> Iterator[dict[str, Any]]:
    """Valid operations of the log, in order; damaged lines are skipped with a warning naming file and line
    (and their numbers appended to `damaged`)."""
    if not path.is_file():
        return
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                op = json.loads(raw.decode("utf-8"))
                batch = op.get("ops") if isinstance(op, dict) and op.get("op") == "batch" else [op]
                if not isinstance(batch, list):
                    raise ValueError("batch without a list of operations")
                checked = [_checked_op(o) for o in batch]  # all of the line, or none of it
            except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
                logger.warning("ingest log %s line %d is damaged and skipped: %s", path, n, str(exc)[:200])
                if damaged is not None:
                    damaged.append(n)
                continue
            yield from checked


def _checked_op(op: Any) -> dict[str, Any]:
    if not isinstance(op, dict):
        raise ValueError("not an object")
    if op.get("op") == "upsert":
        return {"op": "upsert", "doc": Document.from_dict(op["doc"])}
    if op.get("op") == "repeal" and isinstance(op.get("id"), str):
        return {"op": "repeal", "id": op["id"]}
    raise ValueError(f"unknown operation {str(op.get('op'))[:40]!r}")


def replay_ingest_log(settings: Settings, index: PolicyIndex) -> int:
    """Apply logged upserts and repeals to a freshly opened index; returns how many ops.

    Afterwards the log is compacted to one operation per document when it holds more, so a start
    replays what the documents are now, not every historic operation.
    """
    path = ingest_log_path(settings)
    n = 0
    pending: dict[str, Document] = {}  # applied in one batch: each add recomputes BM25 statistics
    upserted: dict[str, Document] = {}
    repeals: dict[str, None] = {}
    damaged: list[int] = []
    for op in read_ingest_log(path, damaged):
        n += 1
        if op["op"] == "upsert":
            doc = op["doc"]
            pending.pop(doc.id, None)
            pending[doc.id] = doc
            upserted.pop(doc.id, None)
            upserted[doc.id] = doc
            repeals.pop(doc.id, None)
        else:
            doc = pending.get(op["id"]) or index.get_document(op["id"])
            if doc is not None:
                pending[doc.id] = repealed(doc)
                repeals.pop(doc.id, None)
                repeals[doc.id] = None
    if pending:
        index.add(pending.values())
    compact = [{"op": "upsert", "doc": d.to_dict()} for d in upserted.values()]
    compact += [{"op": "repeal", "id": i} for i in repeals]
    if path.is_file() and (len(compact) < n or damaged):
        if damaged:
            # Kept byte for byte beside the log, so an operator can still look at what the crash left.
            shutil.copyfile(path, path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d%H%M%S')}"))
        _rewrite_log(path, compact)
        logger.info("ingest log %s compacted: %d operations -> %d", path, n, len(compact))
    return n


def _rewrite_log(path: Path, ops: list[dict[str, Any]]) -> None:
    """Replace the log atomically (temp file, fsync, rename): a crash leaves the old or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with _log_lock:
        with tmp.open("wb") as f:
            f.write(b"".join(_encode_op(op) for op in ops))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def repealed(doc: Document) -> Document:
    return replace(doc, status=Status.EXPIRED, metadata={**doc.metadata, "repealed": True})


def open_index(settings: Settings, encoder: Any = None) -> PolicyIndex:
    """The corpus index with the ingest log applied, from the last checkpoint when it is still current."""
    if settings.backend == "milvus":
        return open_milvus_index(settings, encoder)
    # Linked before indexing, so the saved index already carries statuses and links and a restart
    # only re-links what the ingest log changed.
    index = PolicyIndex.open_or_build(
        settings.corpus_path, settings.resolved_index_dir, index_config(settings), encoder, prepare=link_documents
    )
    if not ingest_log_path(settings).is_file():
        return index
    live = load_checkpoint(settings, index)
    if live is not None:
        return live
    n = replay_ingest_log(settings, index)
    if n:
        logger.info("replayed %d ingest operations", n)
        link_versions(index)
        save_checkpoint(settings, index)
    return index


# -- checkpoint: the index with the ingest log applied, so a start need not replay it ------------------
def _checkpoint_paths(settings: Settings) -> tuple[Path, Path]:
    root = settings.resolved_index_dir
    return root / "live", root / "live.json"


def _identity(index: PolicyIndex, settings: Settings) -> dict[str, Any]:
    """What the checkpoint was built from: the base index (corpus, build config, encoder) and the log."""
    log = ingest_log_path(settings)
    return {
        "corpus_hash": index.corpus_hash,
        "build": index.config.build_key(),
        "encoder": getattr(index.encoder, "name", None),
        "log_sha1": hashlib.sha1(log.read_bytes()).hexdigest() if log.is_file() else None,
    }


def save_checkpoint(settings: Settings, index: PolicyIndex) -> None:
    """Save `index` as the state of the current ingest log. Never fails the caller: the log stays the truth."""
    if settings.backend == "milvus":
        _note_log(settings, index)
        return
    path, meta = _checkpoint_paths(settings)
    try:
        ident = _identity(index, settings)
        index.save(path)
        tmp = meta.with_name(f".{meta.name}.tmp")
        tmp.write_text(json.dumps(ident, sort_keys=True), encoding="utf-8")
        os.replace(tmp, meta)  # written after the index: a crash in between leaves a stale, ignored checkpoint
    except (OSError, ValueError) as exc:
        logger.warning("could not save the index checkpoint at %s (%s); the next start replays the log", path, exc)


def load_checkpoint(settings: Settings, base: PolicyIndex) -> PolicyIndex | None:
    """The checkpoint if it was made from this base index and exactly this log, else None."""
    path, meta = _checkpoint_paths(settings)
    try:
        saved = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved != _identity(base, settings):
        return None
    try:
        live = PolicyIndex.load(path, base.encoder)
    except (IndexFormatError, OSError, ValueError, KeyError) as exc:
        logger.warning("index checkpoint at %s unusable (%s); replaying the ingest log", path, exc)
        return None
    live.config = base.config  # search-time settings come from this start's settings
    live.corpus_hash = base.corpus_hash
    live.use_embedding_cache(settings.resolved_index_dir / "embeddings")
    logger.info("index checkpoint at %s is current; ingest log not replayed", path)
    return live


def rebuild_with(index: PolicyIndex, upserts: list[Document], repeal_ids: list[str], settings: Settings) -> PolicyIndex:
    """A new index = old documents + upserts - repeals, built off to the side (embeddings cached)."""
    if settings.backend == "milvus":
        # Milvus is changed in place (it is shared by every replica); add/replace is incremental there.
        index.add([*upserts, *(repealed(index.documents[i]) for i in repeal_ids if i in index.documents)])
        return index
    docs = dict(index.documents)
    for d in upserts:
        docs[d.id] = d
    for i in repeal_ids:
        if i in docs:
            docs[i] = repealed(docs[i])
    new = PolicyIndex.build(
        docs.values(), index.config, index.encoder, cache_dir=settings.resolved_index_dir / "embeddings"
    )
    new.corpus_hash = index.corpus_hash  # still the same corpus, plus the ingested changes
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


# -- the milvus backend (issue 14): the collections persist themselves; the log is replayed when it changed -----
def _log_sha1(settings: Settings) -> str | None:
    log = ingest_log_path(settings)
    return hashlib.sha1(log.read_bytes()).hexdigest() if log.is_file() else None


def _note_log(settings: Settings, index: Any) -> None:
    index.notes["ingest_log_sha1"] = _log_sha1(settings)
    index.save_notes()


def open_milvus_index(settings: Settings, encoder: Any = None) -> Any:
    """The corpus in Milvus (reused when corpus, config and encoder match), with the ingest log applied once."""
    from index.backend import open_or_build

    index = open_or_build(
        "milvus", settings.corpus_path, settings.resolved_index_dir, index_config(settings), encoder,
        prepare=link_documents, milvus_uri=settings.resolved_milvus_uri, collection=settings.milvus_collection,
    )  # fmt: skip
    if ingest_log_path(settings).is_file() and index.notes.get("ingest_log_sha1") != _log_sha1(settings):
        n = replay_ingest_log(settings, index)
        if n:
            logger.info("replayed %d ingest operations into milvus", n)
            link_versions(index)
        _note_log(settings, index)
    return index
