"""Reading and writing a PolicyIndex as a directory, and reusing a saved one (`open_or_build`).

A mixin of `index.engine.PolicyIndex`: the index's state is built there, its files are laid out here
(`params.json`, `documents.jsonl`, `passages.jsonl`, `bm25/`, `dense/`; see index.storage for the
atomic, versioned write and the checks every part gets on the way back in).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Self

from corpus.loaders import load_corpus
from corpus.models import Document
from index.bm25 import BM25Index
from index.config import IndexConfig
from index.dense import DenseIndex
from index.storage import (
    IndexFormatError,
    check,
    check_rows,
    read_documents,
    read_json,
    read_passages,
    reading,
    verify_digests,
    write_jsonl,
    write_versioned,
)
from index.tokenize import default_tokenizer
from index.types import Encoder

if TYPE_CHECKING:
    from index.engine import Progress

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


class IndexPersistence:
    """save / load / open_or_build of `index.engine.PolicyIndex` (which it is mixed into)."""

    def params(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "tokenizer": self.tokenizer.signature,
            "encoder": {"name": self.encoder.name, "dim": self.encoder.dim} if self.encoder else None,
            "corpus_hash": self.corpus_hash,
            "n_passages": len(self.passages),
            "n_live_passages": len(self),
            "n_documents": len(self._docs),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def save(self, path: str | Path) -> None:
        """Write the index as a directory, atomically (see index.storage.write_versioned)."""
        write_versioned(Path(path), self._write_parts, self.params())

    def _write_parts(self, tmp: Path) -> None:
        write_jsonl(tmp / "documents.jsonl", (d.to_dict() for d in self._docs.values()))
        write_jsonl(tmp / "passages.jsonl", (p.to_dict() for p in self.passages))
        self.bm25.save(tmp / "bm25")
        if self.dense is not None:
            self.dense.save(tmp / "dense")

    @classmethod
    def load(cls, path: str | Path, encoder: Encoder | None = None) -> Self:
        """Read a saved index. Every part is checked against params.json and the others first
        (index.storage); a damaged or foreign one raises IndexFormatError naming the file."""
        path = Path(path)
        pf = path / "params.json"
        if not pf.exists():
            raise FileNotFoundError(f"no index at {path} (params.json missing)")
        params = read_json(pf)
        check(isinstance(params, dict), pf, "not a JSON object")
        if params.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(f"index format {params.get('format_version')} != {FORMAT_VERSION}; rebuild it")
        with reading(pf):
            enc_p = params.get("encoder")
            if (
                encoder is not None
                and enc_p is not None
                and (enc_p["name"] != encoder.name or enc_p["dim"] != encoder.dim)
            ):
                raise IndexFormatError(
                    f"index was built with encoder {enc_p['name']!r} (dim {enc_p['dim']}), "
                    f"not {encoder.name!r} (dim {encoder.dim}); rebuild it"
                )
            config = IndexConfig.from_dict(params["config"])
            self = cls(config, encoder if enc_p is not None else None)
            if self.tokenizer.signature != params["tokenizer"]:
                raise IndexFormatError(
                    f"index tokenizer {params['tokenizer']} differs from {self.tokenizer.signature}; rebuild it"
                )
        verify_digests(path, params.get("files"))
        self._docs = read_documents(path / "documents.jsonl", params.get("n_documents"))
        self.passages = read_passages(path / "passages.jsonl", params.get("n_passages"))
        self.bm25 = BM25Index.load(path / "bm25")
        self.dense = DenseIndex.load(path / "dense") if enc_p is not None and encoder is not None else None
        check_rows(
            path,
            self.passages,
            self._docs,
            self.bm25.alive,
            params.get("n_live_passages"),
            None if self.dense is None else self.dense.vectors.shape,
            None if encoder is None else encoder.dim,
        )
        self._row_doc = [p.doc_id for p in self.passages]
        for r, p in enumerate(self.passages):
            if self.bm25.alive[r]:
                self._doc_rows.setdefault(p.doc_id, []).append(r)
        for d in self._docs:
            self._doc_rows.setdefault(d, [])
        self._lookup.add(self._docs.values())
        self.corpus_hash = params.get("corpus_hash")
        self._invalidate()
        return self

    @classmethod
    def open_or_build(
        cls,
        corpus_path: str | Path,
        cache_root: str | Path,
        config: IndexConfig,
        encoder: Encoder | None = None,
        progress: Progress | None = None,
        prepare: Callable[[Iterable[Document]], Iterable[Document]] | None = None,
    ) -> Self:
        """Load the index for this corpus, config and encoder if one was saved, else build and save it.

        `prepare` transforms the loaded documents before indexing (e.g. linking revisions); its
        name is part of the cache key, so an index built without it is not reused with it.
        """
        corpus_path, cache_root = Path(corpus_path), Path(cache_root)
        chash = corpus_fingerprint(corpus_path)
        key_src = json.dumps(
            {
                "corpus": chash,
                "config": config.build_key(),
                "tokenizer": default_tokenizer(config.tokenizer_mode).signature,
                "encoder": encoder.name if encoder else None,
                "prepare": f"{prepare.__module__}.{prepare.__qualname__}" if prepare else None,
                "format": FORMAT_VERSION,
            },
            sort_keys=True,
        )
        key = hashlib.sha1(key_src.encode()).hexdigest()[:16]
        path = cache_root / f"index-{key}"
        if (path / "params.json").exists():
            try:
                idx = cls.load(path, encoder)
                # Search-time settings (fusion, weights) come from the caller, not the saved copy.
                idx.config = config
                # Documents added later (the ingest log) reuse the vectors their ingest already encoded.
                idx.use_embedding_cache(cache_root / "embeddings")
                return idx
            except (IndexFormatError, OSError, EOFError, ValueError, KeyError, TypeError) as e:
                # load() names the damaged file; anything else it lets through still means "rebuild".
                logger.warning("cached index at %s unusable (%s); rebuilding", path, e)
        docs = load_corpus(corpus_path)
        idx = cls.build(
            prepare(docs) if prepare else docs, config, encoder, progress=progress, cache_dir=cache_root / "embeddings"
        )
        idx.corpus_hash = chash
        idx.save(path)
        return idx


def corpus_fingerprint(path: Path) -> str:
    """Content hash of a corpus file or folder (names and bytes of every file)."""
    h = hashlib.sha1()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no corpus at {path}")
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
