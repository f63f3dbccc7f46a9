"""MilvusIndex: the policy index with passages, vectors and BM25 in Milvus (Lite, standalone or cluster).

Passages are rows of one collection: metadata of their document as scalar fields (filters run in
Milvus as expressions), the e5 vector under an HNSW index, and this project's BM25 as a sparse
vector (index.milvus_store). Documents (for lookup by 文号 / title and `get_document`) sit in a
second collection and in memory. A query takes the top candidates of each side from Milvus,
then scores every candidate on both sides exactly (its stored sparse and dense vectors) and
fuses them with index.fusion as PolicyIndex does: same score floor, same 文号 / title bonus,
same stale-version penalty, same tie order (insertion sequence).

With `native_bm25=True` the lexical side is Milvus' own BM25 function with its jieba analyzer
instead (scores of candidates it did not retrieve are 0); kept to measure the two against each
other (README, "Milvus backend").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from corpus.chunking import chunk_document
from corpus.loaders import load_corpus
from corpus.models import Document, Passage, Status
from index import fusion
from index import milvus_schema as sc
from index import milvus_store as ms
from index.backend import Prepare, Progress, check_query
from index.config import FusionMethod, IndexConfig, Ranking, SearchMode
from index.dense import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, EmbeddingCache
from index.lookup import DocLookup
from index.milvus_schema import MilvusOptions
from index.query_terms import expand_terms
from index.tokenize import Tokenizer, default_tokenizer
from index.types import Encoder, Filters, Hit, distinct_batch

logger = logging.getLogger(__name__)

LOOKUP_BONUS = 1.0  # as index.engine: a document named by 文号 or title wins
FORMAT = 1
INSERT_BATCH = 512


class MilvusIndex:
    def __init__(
        self,
        config: IndexConfig,
        uri: str,
        encoder: Encoder | None = None,
        options: MilvusOptions | None = None,
        tokenizer: Tokenizer | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.encoder = encoder
        self.options = options or MilvusOptions()
        self.tokenizer = tokenizer or default_tokenizer(config.tokenizer_mode)
        self.uri = uri
        if config.ranking is Ranking.LEARNED:
            logger.warning(
                "the learned ranker reads the embedded index's internals; the milvus backend orders by fusion"
            )
        self.client = ms.connect(uri)
        self.corpus_hash: str | None = None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._cache: EmbeddingCache | None = None
        self._docs: dict[str, Document] = {}
        self._lookup = DocLookup()
        self._bm = ms.SparseBM25(config.bm25_k1, config.bm25_b, config.bm25_method)
        self._next_seq = self._next_doc_seq = 0
        # Small facts the caller keeps with the collections (the service: which ingest log they reflect).
        self.notes: dict[str, Any] = {}
        name = self.options.collection
        self.passages_name, self.docs_name = f"{name}_passages", f"{name}_docs"
        if self.client.has_collection(self.passages_name) and self.client.has_collection(self.docs_name):
            self._reopen()
        else:
            self._create()

    # ------------------------------------------------------------------ collections
    def identity(self) -> dict[str, Any]:
        """What the stored collections were built with; a different one cannot be reused."""
        return {
            "format": FORMAT,
            "build": self.config.build_key(),
            "tokenizer": self.tokenizer.signature,
            "encoder": None if self.encoder is None else {"name": self.encoder.name, "dim": self.encoder.dim},
            "index_type": self.options.index_type,
            "native_bm25": self.options.native_bm25,
        }

    def _create(self) -> None:
        for n in (self.passages_name, self.docs_name):
            if self.client.has_collection(n):
                self.client.drop_collection(n)
        opts, dim = self.options, (self.encoder.dim if self.encoder is not None else None)
        # Milvus' jieba in search mode (its own dictionary), with this project's stopwords.
        stop = [{"type": "stop", "stop_words": sorted(self.tokenizer.stopwords)}]
        analyzer = {"tokenizer": {"type": "jieba", "mode": "search"}, "filter": stop}
        schema = sc.passage_schema(self.client, dim, opts.native_bm25, analyzer)
        idx = sc.passage_indexes(
            self.client, dim is not None, opts.native_bm25, opts.index_type, HNSW_M, HNSW_EF_CONSTRUCTION
        )
        sc.create_collection(self.client, self.passages_name, schema, idx)
        sc.create_collection(self.client, self.docs_name, sc.docs_schema(self.client), sc.docs_indexes(self.client))
        self._save_meta()

    def reset(self) -> None:
        """Drop everything stored and start empty."""
        self._docs.clear()
        self._lookup = DocLookup()
        self._bm = ms.SparseBM25(self.config.bm25_k1, self.config.bm25_b, self.config.bm25_method)
        self._next_seq = self._next_doc_seq = 0
        self.corpus_hash = None
        self.notes = {}
        self._create()

    def save_notes(self) -> None:
        self._save_meta()

    def _save_meta(self) -> None:
        meta = {
            "identity": self.identity(),
            "corpus_hash": self.corpus_hash,
            "next_seq": self._next_seq,
            "next_doc_seq": self._next_doc_seq,
            "weighted_avgdl": self._bm.weighted_avgdl,
            "notes": self.notes,
        }
        self.client.upsert(self.docs_name, sc.body_rows("meta", "", json.dumps(meta), -1))

    def stored_meta(self) -> dict[str, Any] | None:
        return sc.read_meta(self.client, self.docs_name)

    def _reopen(self) -> None:
        for n in (self.passages_name, self.docs_name):
            self.client.load_collection(n)
        meta = self.stored_meta()
        if meta is None or meta.get("identity") != self.identity():
            logger.warning("milvus collections %s were built differently; rebuilding them", self.options.collection)
            self._create()
            return
        self.corpus_hash = meta.get("corpus_hash")
        self._next_seq = int(meta["next_seq"])
        self._next_doc_seq = int(meta["next_doc_seq"])
        self._bm.weighted_avgdl = float(meta["weighted_avgdl"])
        self.notes = dict(meta.get("notes") or {})
        self._docs = sc.read_documents(self.client, self.docs_name, self._next_doc_seq)
        self._lookup.add(self._docs.values())
        for r in sc.scan(self.client, self.passages_name, None, ["sparse", "dl"], self._next_seq):
            self._bm.count(ms.as_sparse(r["sparse"]), int(r["dl"]))

    def close(self) -> None:
        """Close the connection, and stop the in-process Milvus Lite server of a local path."""
        sc.close(self.client, self.uri)

    def use_embedding_cache(self, cache_dir: Path) -> None:
        self._cache, self._cache_dir = None, Path(cache_dir)

    # ------------------------------------------------------------------ reading
    @property
    def documents(self) -> Mapping[str, Document]:
        return self._docs

    def __len__(self) -> int:
        return self._bm.n_live

    def get_document(self, doc_id: str) -> Document | None:
        return self._docs.get(doc_id)

    def passages_of(self, doc_id: str) -> list[Passage]:
        if doc_id not in self._docs:
            return []
        rows = self.client.query(
            self.passages_name, filter=f"doc_id == {ms.quote(doc_id)}", output_fields=sc.SCALARS, limit=16_384
        )
        return [sc.row_passage(r) for r in sorted(rows, key=lambda r: r["seq"])]

    @property
    def passages(self) -> list[Passage]:
        """Every live passage in insertion order. A full scan: for evaluation and tools, never per request."""
        rows = list(sc.scan(self.client, self.passages_name, None, sc.SCALARS, self._next_seq))
        return [sc.row_passage(r) for r in sorted(rows, key=lambda r: r["seq"])]

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def lookup(self, query: str) -> list[Document]:
        return [self._docs[i] for i in self._lookup.find(query) if i in self._docs]

    # ------------------------------------------------------------------ writing
    def add(self, docs: Iterable[Document], progress: Progress | None = None) -> None:
        """Add documents; one already indexed is replaced. Slow work first, then Milvus is changed."""
        docs = list(docs)
        distinct_batch(docs)
        passages = [p for d in docs for p in chunk_document(d, max_chars=self.config.chunk_max_chars)]
        texts = [p.index_text() for p in passages]
        tokens = self.tokenizer.tokenize_many(texts, workers=os.cpu_count() or 1)
        vectors = self._encode(texts, progress) if self.encoder is not None else None
        replaced = [d.id for d in docs if d.id in self._docs]
        if replaced:
            self._delete_passages(replaced)
        for toks in tokens:
            self._bm.count({ms.token_key(t) for t in toks}, len(toks))
        if self._bm.drift() > self.options.reweight_drift:
            self._reweight()
        by_id = {d.id: d for d in docs}
        rows = []
        for i, (p, toks) in enumerate(zip(passages, tokens, strict=True)):
            row = sc.passage_row(p, by_id[p.doc_id], self._next_seq + i, toks, self._bm.passage_vector(toks))
            if vectors is not None:
                row["dense"] = vectors[i].tolist()
            if self.options.native_bm25:
                row["lexical"] = texts[i]
            rows.append(row)
        self._next_seq += len(rows)
        if progress:
            progress("milvus insert", 0, len(rows))
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.insert(self.passages_name, rows[start : start + INSERT_BATCH])
            if progress:
                progress("milvus insert", min(start + INSERT_BATCH, len(rows)), len(rows))
        doc_rows = []
        for i, d in enumerate(docs):
            body = json.dumps(d.to_dict(), ensure_ascii=False)
            doc_rows.extend(sc.body_rows("doc", d.id, body, self._next_doc_seq + i))
        self._next_doc_seq += len(docs)
        self._delete_docs(replaced)  # a shorter new version leaves no stale pieces behind
        for start in range(0, len(doc_rows), INSERT_BATCH):
            self.client.upsert(self.docs_name, doc_rows[start : start + INSERT_BATCH])
        for d in docs:
            self._docs[d.id] = d
        self._lookup.add(docs)
        self._save_meta()
        self._flush()

    def remove(self, doc_ids: Iterable[str]) -> None:
        doc_ids = list(doc_ids)
        unknown = [i for i in doc_ids if i not in self._docs]
        if unknown:
            raise KeyError(f"unknown document ids: {unknown[:5]}")
        self._delete_passages(doc_ids)
        self._delete_docs(doc_ids)
        for i in doc_ids:
            del self._docs[i]
        self._lookup.remove(doc_ids)
        if self._bm.drift() > self.options.reweight_drift:
            self._reweight()
        self._save_meta()
        self._flush()

    def _flush(self) -> None:
        # Sealed segments keep their search indexes; Milvus Lite rebuilds the growing one's on every search.
        for n in (self.passages_name, self.docs_name):
            self.client.flush(n)

    def _delete_docs(self, doc_ids: list[str]) -> None:
        for start in range(0, len(doc_ids), 200):
            ids = ", ".join(map(ms.quote, doc_ids[start : start + 200]))
            self.client.delete(self.docs_name, filter=f'kind == "doc" and doc_id in [{ids}]')

    def _delete_passages(self, doc_ids: list[str]) -> None:
        for start in range(0, len(doc_ids), 200):  # 200 documents hold far fewer than 16,384 passages
            expr = f"doc_id in [{', '.join(map(ms.quote, doc_ids[start : start + 200]))}]"
            for r in self.client.query(self.passages_name, filter=expr, output_fields=["sparse", "dl"], limit=16_384):
                self._bm.count(ms.as_sparse(r["sparse"]), int(r["dl"]), sign=-1)
            self.client.delete(self.passages_name, filter=expr)

    def _reweight(self) -> None:
        """Re-write every stored passage vector with the current average length (exact BM25 again)."""
        old, new = self._bm.weighted_avgdl, self._bm.avgdl
        fields = [f for f in self._all_fields() if f != "native"]
        rows = []
        for r in sc.scan(self.client, self.passages_name, None, fields, self._next_seq):
            dl = int(r["dl"])
            tf = self._bm.term_frequencies(ms.as_sparse(r["sparse"]), dl, old)
            r = dict(r)
            r["sparse"] = self._bm.weights(tf, dl, new)
            if "dense" in r:
                r["dense"] = [float(x) for x in r["dense"]]
            rows.append(r)
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.upsert(self.passages_name, rows[start : start + INSERT_BATCH])
        self._bm.weighted_avgdl = new
        logger.info("re-weighted %d passages for average length %.1f (was %.1f)", len(rows), new, old)

    def _all_fields(self) -> list[str]:
        base = [*sc.SCALARS, "status", "issuer", "region", "collection", "doc_type", "publish_date", "topics", "sparse"]
        if self.encoder is not None:
            base.append("dense")
        if self.options.native_bm25:
            base.append("lexical")
        return base

    def _encode(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        assert self.encoder is not None
        if self._cache is None and self._cache_dir is not None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.encoder.name)[:80]
            self._cache = EmbeddingCache(self._cache_dir / safe, self.encoder.name, self.encoder.dim)
        if self._cache is not None:
            vecs = self._cache.encode(texts, self.encoder.encode_passages, progress=progress)
            self._cache.save()
            return vecs
        out = [self.encoder.encode_passages(texts[i : i + 256]) for i in range(0, len(texts), 256)]
        return np.concatenate(out) if out else np.zeros((0, self.encoder.dim), dtype=np.float32)

    # ------------------------------------------------------------------ searching
    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None, mode: SearchMode | str | None = None
    ) -> list[Hit]:
        """Top passages for a query, as PolicyIndex.search. Junk queries and empty filters give []."""
        query = check_query(query, top_k, self.config.max_query_chars)
        mode = (
            self.config.mode if mode is None else (mode if isinstance(mode, SearchMode) else SearchMode.from_str(mode))
        )
        if mode is not SearchMode.BM25 and self.encoder is None:
            if mode is SearchMode.DENSE:
                raise ValueError("dense search needs an encoder; this index was built without one")
            mode = SearchMode.BM25
        expr = ms.filter_expression(filters)
        if expr == ms.NOTHING or not self._docs:
            return []
        # Abbreviations (公租房 -> 公共租赁住房) join the BM25 terms, as in PolicyIndex.
        tokens = expand_terms(query, self.tokenizer.tokenize(query), self.tokenizer.tokenize)
        qsparse = self._bm.query_vector(tokens)
        informative = bool(self._bm.query_keys(tokens))
        looked_up = [d for d in self._lookup.find(query) if d in self._docs]
        if filters is not None and not filters.is_empty():
            looked_up = [d for d in looked_up if filters.accepts(self._docs[d])]
        if not informative and not looked_up:
            return []  # score floor: nothing in the query is a word the corpus uses
        n_cand = max(self.config.candidates, top_k)
        native = self.options.native_bm25
        client, name = self.client, self.passages_name
        if native:
            lexical = sc.search_native(client, name, query, n_cand, expr)
        else:
            lexical = sc.search_sparse(client, name, qsparse, n_cand, expr)
        best_bm25 = max(lexical.values(), default=0.0)
        qv = None
        pks = set(lexical) if mode is not SearchMode.DENSE else set()
        if mode is not SearchMode.BM25:
            assert self.encoder is not None
            qv = self.encoder.encode_queries([query])[0]
            pks |= sc.search_dense(client, name, qv, n_cand, expr, self.options.index_type, HNSW_EF_SEARCH)
        rows = sc.fetch(client, name, pks, looked_up, qv is not None)
        # A document removed or filtered out meanwhile never comes back, whatever the store returned.
        rows = [
            r
            for r in rows
            if r["doc_id"] in self._docs and (filters is None or filters.accepts(self._docs[r["doc_id"]]))
        ]
        if not rows:
            return []
        rows.sort(key=lambda r: r["seq"])
        if native:
            bm = np.asarray([lexical.get(r["pk"], 0.0) for r in rows], dtype=np.float32)
        else:
            bm = np.asarray([ms.sparse_dot(qsparse, ms.as_sparse(r["sparse"])) for r in rows], dtype=np.float32)
        parts: dict[str, np.ndarray]
        if mode is SearchMode.BM25:
            fused = bm.astype(np.float64)
            parts = {"bm25": bm}
        else:
            dn = np.asarray([r["dense"] for r in rows], dtype=np.float32) @ np.asarray(qv, dtype=np.float32)
            if mode is SearchMode.DENSE:
                fused, parts = dn.astype(np.float64), {"dense": dn}
            else:
                w = self.bm25_weight_for(tokens, best_bm25)
                fused = self._fuse(bm, dn, w)
                parts = {"bm25": bm, "dense": dn, "bm25_weight": np.full(len(rows), w)}
        if self.config.stale_penalty < 1.0:
            stale = np.asarray([self._docs[r["doc_id"]].status in (Status.EXPIRED, Status.SUPERSEDED) for r in rows])
            fused = np.where(stale, fused * self.config.stale_penalty, fused)
        if looked_up:
            named = set(looked_up)
            bonus = np.asarray([r["doc_id"] in named for r in rows], dtype=np.float64)
            fused = fused + bonus * LOOKUP_BONUS * max(1.0, float(np.abs(fused).max()))
        order = np.argsort(-fused, kind="stable")[:top_k]
        return [
            Hit(sc.row_passage(rows[i]), float(fused[i]), {k: float(v[i]) for k, v in parts.items()}) for i in order
        ]

    def bm25_weight_for(self, tokens: list[str], best_bm25: float) -> float:
        """As PolicyIndex.bm25_weight_for, from this index's statistics."""
        cfg = self.config
        if cfg.bm25_weight_slope == 0.0:
            return cfg.bm25_weight
        idf_sum = self._bm.idf_sum(tokens)
        match = best_bm25 / idf_sum if idf_sum > 0 else 0.0
        return min(1.0, max(0.0, cfg.bm25_weight + cfg.bm25_weight_slope * match))

    def _fuse(self, bm: np.ndarray, dn: np.ndarray, w: float) -> np.ndarray:
        if self.config.fusion is FusionMethod.RRF:
            r_bm = np.where(bm > 0, fusion.ranks(bm), 0)
            return fusion.rrf([r_bm, fusion.ranks(dn)], [w, 1.0 - w], k=self.config.rrf_k)
        return fusion.convex(bm, dn, w)

    # ------------------------------------------------------------------ building
    @classmethod
    def open_or_build(
        cls,
        corpus_path: str | Path,
        uri: str,
        config: IndexConfig,
        encoder: Encoder | None = None,
        cache_root: str | Path | None = None,
        progress: Progress | None = None,
        prepare: Prepare | None = None,
        collection: str = "policy",
        options: MilvusOptions | None = None,
    ) -> MilvusIndex:
        """Reuse the collections when they hold this corpus (same hash, build config, encoder), else build them."""
        from index.engine import corpus_fingerprint

        corpus_path = Path(corpus_path)
        chash = corpus_fingerprint(corpus_path)
        if prepare is not None:
            chash = hashlib.sha1(f"{chash}:{prepare.__module__}.{prepare.__qualname__}".encode()).hexdigest()
        opts = options or MilvusOptions(collection=collection)
        cache = Path(cache_root) / "embeddings" if cache_root is not None else None
        idx = cls(config, uri, encoder, opts, cache_dir=cache)
        if idx.corpus_hash == chash:
            return idx
        if idx._docs or idx.corpus_hash is not None:
            idx.reset()
        docs = load_corpus(corpus_path)
        idx.add(prepare(docs) if prepare else docs, progress=progress)
        idx.corpus_hash = chash
        idx._save_meta()
        return idx
