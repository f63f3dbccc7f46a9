"""PolicyIndex: documents -> passages -> BM25 + dense rows, searched and fused.

Row i of the BM25 side, row i of the dense side and `passages[i]` are always the
same passage. Removing a document marks its rows dead on both sides at once.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

from corpus.chunking import chunk_document
from corpus.models import Document, Passage, Status
from index import fusion, ranking
from index.bm25 import BM25Index
from index.config import FusionMethod, IndexConfig, Ranking, SearchMode
from index.dense import DenseIndex, EmbeddingCache
from index.engine_io import IndexPersistence, corpus_fingerprint
from index.lookup import DocLookup
from index.query_terms import expand_terms
from index.storage import IndexFormatError
from index.tokenize import Tokenizer, default_tokenizer
from index.types import Encoder, Filters, Hit, distinct_batch

__all__ = ["PolicyIndex", "SearchMode", "IndexConfig", "IndexFormatError", "corpus_fingerprint"]

logger = logging.getLogger(__name__)

MAX_TOP_K = 1000
# Score added to passages of a document named by 文号 or title in the query: precise lookup wins.
LOOKUP_BONUS = 1.0
Progress = Callable[[str, int, int], None]


class PolicyIndex(IndexPersistence):
    def __init__(self, config: IndexConfig, encoder: Encoder | None = None, tokenizer: Tokenizer | None = None) -> None:
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer or default_tokenizer(config.tokenizer_mode)
        self.bm25 = BM25Index(k1=config.bm25_k1, b=config.bm25_b, method=config.bm25_method)
        self.dense: DenseIndex | None = (
            DenseIndex(encoder.dim, ann_threshold=config.ann_threshold) if encoder is not None else None
        )
        self.passages: list[Passage] = []
        self._docs: dict[str, Document] = {}
        self._doc_rows: dict[str, list[int]] = {}
        self._row_doc: list[str] = []
        self._lookup = DocLookup()
        self._cache: EmbeddingCache | None = None
        self._cache_dir: Path | None = None
        self.corpus_hash: str | None = None
        self._doc_order: list[str] | None = None
        self._row_doc_arr = np.zeros(0, dtype=np.int64)
        self._stale: np.ndarray | None = None  # per row: its document expired or superseded
        self._lookups: dict[str, list[str]] = {}  # query -> named documents (asked twice per answer)
        # Learned order over the hybrid candidates (index.ranking); None keeps the fixed-weight fusion.
        self.ranker: ranking.LearnedRanker | None = None
        self._features = ranking.FeatureExtractor()

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        docs: Iterable[Document],
        config: IndexConfig,
        encoder: Encoder | None = None,
        progress: Progress | None = None,
        cache_dir: Path | None = None,
    ) -> PolicyIndex:
        self = cls(config, encoder)
        if cache_dir is not None:
            self.use_embedding_cache(cache_dir)
        self.add(docs, progress=progress)
        return self

    def use_embedding_cache(self, cache_dir: Path) -> None:
        """Encode added passages through the vector cache in `cache_dir` (shared by every index of it).

        Opened on the first add, so a start that adds nothing does not read the whole cache.
        """
        self._cache = None
        self._cache_dir = Path(cache_dir)

    @property
    def documents(self) -> Mapping[str, Document]:
        return self._docs

    @property
    def alive(self) -> np.ndarray:
        return self.bm25.alive

    def __len__(self) -> int:
        """Number of live passages."""
        return int(self.alive.sum())

    def get_document(self, doc_id: str) -> Document | None:
        return self._docs.get(doc_id)

    def passages_of(self, doc_id: str) -> list[Passage]:
        return [self.passages[r] for r in self._doc_rows.get(doc_id, ())]

    def tokenize(self, text: str) -> list[str]:
        return self.tokenizer.tokenize(text)

    def idf(self, tokens: Sequence[str]) -> list[float]:
        """BM25 IDF of each token; a word the corpus never uses gets more than any seen word."""
        known = [t for t in tokens if t in self.bm25.vocab]
        idf = dict(zip(known, (float(x) for x in self.bm25.idf_of(self.bm25.query_ids(known))), strict=True))
        unseen = math.log(1.0 + 2.0 * max(len(self), 1))
        return [idf.get(t, unseen) for t in tokens]

    def add(self, docs: Iterable[Document], progress: Progress | None = None) -> None:
        """Add documents; a document whose id is already indexed is replaced."""
        docs = list(docs)
        distinct_batch(docs)
        dead = [r for d in docs for r in self._doc_rows.get(d.id, ())]
        new_passages: list[Passage] = []
        for i, d in enumerate(docs):
            new_passages.extend(chunk_document(d, max_chars=self.config.chunk_max_chars))
            if progress and (i % 200 == 0 or i == len(docs) - 1):
                progress("chunk", i + 1, len(docs))
        texts = [p.index_text() for p in new_passages]
        if progress:
            progress("tokenize", 0, len(texts))
        tokens = self.tokenizer.tokenize_many(texts, workers=os.cpu_count() or 1)
        if progress:
            progress("tokenize", len(texts), len(texts))
        vectors = self._encode_passages(texts, progress) if self.dense is not None else None
        # Both sides change together, after all the slow work succeeded.
        base = len(self.passages)
        self.bm25.update(add=tokens, remove=dead)
        if self.dense is not None and vectors is not None:
            self.dense.add(vectors)
        for d in docs:
            self._doc_rows[d.id] = []
            self._docs[d.id] = d
        for off, p in enumerate(new_passages):
            self._doc_rows[p.doc_id].append(base + off)
        self.passages.extend(new_passages)
        self._row_doc.extend(p.doc_id for p in new_passages)
        self._lookup.add(docs)
        self._invalidate()

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Remove documents; unknown ids raise KeyError naming them."""
        doc_ids = list(doc_ids)
        unknown = [i for i in doc_ids if i not in self._docs]
        if unknown:
            raise KeyError(f"unknown document ids: {unknown[:5]}")
        rows = [r for i in doc_ids for r in self._doc_rows[i]]
        self.bm25.remove(rows)
        for i in doc_ids:
            del self._docs[i]
            del self._doc_rows[i]
        self._lookup.remove(doc_ids)
        self._invalidate()

    def _encode_passages(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        assert self.encoder is not None
        if self._cache is None and self._cache_dir is not None:
            enc = self.encoder
            self._cache = EmbeddingCache(self._cache_dir / _safe_name(enc.name), enc.name, enc.dim)
        if self._cache is not None:
            vecs = self._cache.encode(texts, self.encoder.encode_passages, progress=progress)
            self._cache.save()
            return vecs
        out = []
        for start in range(0, len(texts), 256):
            out.append(self.encoder.encode_passages(texts[start : start + 256]))
            if progress:
                progress("encode", min(start + 256, len(texts)), len(texts))
        return np.concatenate(out) if out else np.zeros((0, self.encoder.dim), dtype=np.float32)

    def _invalidate(self) -> None:
        self._doc_order = None  # the row -> document table is rebuilt on next use
        self._stale = None
        self._lookups = {}

    # ------------------------------------------------------------------ searching
    def _doc_table(self) -> tuple[list[str], np.ndarray]:
        """Row -> document ordinal, so a per-document filter becomes a row mask with one gather."""
        if self._doc_order is None:
            order = list(dict.fromkeys(self._row_doc))
            pos = {d: i for i, d in enumerate(order)}
            self._doc_order = order
            self._row_doc_arr = np.fromiter((pos[d] for d in self._row_doc), dtype=np.int64, count=len(self._row_doc))
        assert self._doc_order is not None
        return self._doc_order, self._row_doc_arr

    def mask(self, filters: Filters | None) -> np.ndarray:
        """Live rows whose document passes the filters."""
        alive = self.alive
        if filters is None or filters.is_empty():
            return alive.copy()
        order, row_doc = self._doc_table()
        ok = np.fromiter(
            ((d in self._docs and filters.accepts(self._docs[d])) for d in order), dtype=bool, count=len(order)
        )
        return alive & ok[row_doc] if len(row_doc) else alive.copy()

    def lookup(self, query: str) -> list[Document]:
        """Documents named by a 文号 or a (partial) title in the query."""
        return [self._docs[i] for i in self._find(query) if i in self._docs]

    def _find(self, query: str) -> list[str]:
        """`DocLookup.find`, remembered for recent queries: retrieval and abstention both ask it, and
        the title scan is a few ms over 2k titles."""
        got = self._lookups.get(query)
        if got is None:
            got = self._lookup.find(query)
            if len(self._lookups) >= 256:
                self._lookups = {}
            self._lookups[query] = got
        return got

    def _stale_rows(self, rows: np.ndarray) -> np.ndarray:
        stale = self._stale
        if stale is None or len(stale) != len(self.passages):
            old = (Status.EXPIRED, Status.SUPERSEDED)
            by_doc = {d: doc.status in old for d, doc in self._docs.items()}
            stale = np.fromiter((by_doc.get(d, False) for d in self._row_doc), dtype=bool, count=len(self._row_doc))
            self._stale = stale
        return stale[rows]

    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None, mode: SearchMode | str | None = None
    ) -> list[Hit]:
        """Top passages for a query. Junk queries and filters that match nothing give []."""
        mode = self._mode(mode)
        got = self.candidates(query, top_k, filters, mode)
        if got is None:
            return []
        c, parts = got
        fused = c.fused
        ranker = self.active_ranker() if mode is SearchMode.HYBRID else None
        if ranker is not None:
            # Learned order over the same candidates, in (0, 1) so the penalty and bonus below apply as to fusion.
            fused = ranking.sigmoid(ranker.score(self._features.features(c, self.passages, self._docs)))
            parts = {**parts, "ranker": fused}
        cand = c.rows
        if self.config.stale_penalty < 1.0:
            stale = self._stale_rows(cand)
            fused = np.where(stale, fused * self.config.stale_penalty, fused)
        if c.looked_up.any():
            fused = fused + c.looked_up * LOOKUP_BONUS * max(1.0, float(np.abs(fused).max()))
        order = np.argsort(-fused, kind="stable")[:top_k]
        return [
            Hit(self.passages[int(cand[i])], float(fused[i]), {k: float(v[i]) for k, v in parts.items()}) for i in order
        ]

    def candidates(
        self, query: str, top_k: int = 10, filters: Filters | None = None, mode: SearchMode | str | None = None
    ) -> tuple[ranking.Candidates, dict[str, np.ndarray]] | None:
        """What retrieval produced for a query before ordering (None: nothing to rank), and each
        signal per candidate for Hit.scores. The learned ranker and its training read this."""
        if not isinstance(query, str):
            raise ValueError(f"query must be a string, got {type(query).__name__}")
        query = query.strip()
        if not query:
            raise ValueError("query must not be empty")
        if len(query) > self.config.max_query_chars:
            raise ValueError(f"query must be at most {self.config.max_query_chars} characters, got {len(query)}")
        if not 1 <= top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be 1..{MAX_TOP_K}, got {top_k}")
        mode = self._mode(mode)
        if mode is not SearchMode.BM25 and self.dense is None:
            if mode is SearchMode.DENSE:
                raise ValueError("dense search needs an encoder; this index was built without one")
            mode = SearchMode.BM25
        mask = self.mask(filters)
        if not mask.any():
            return None
        # Abbreviations (公租房 -> 公共租赁住房) join the BM25 terms: index/resources/abbreviations.json.
        tokens = expand_terms(query, self.tokenizer.tokenize(query), self.tokenizer.tokenize)
        informative = bool(self.bm25.query_ids(tokens))
        looked_up = np.asarray(
            [r for d in self._find(query) for r in self._doc_rows.get(d, ()) if mask[r]], dtype=np.int64
        )
        if not informative and not looked_up.size:
            # Score floor: nothing in the query is a word the corpus uses ("你好", "？？？", "asdf").
            return None
        n_cand = max(self.config.candidates, top_k)
        bm = self.bm25.scores(tokens, mask)
        bm_rows = _top_positive(bm, n_cand)
        dn = None
        if mode is SearchMode.BM25:
            cand = np.union1d(bm_rows, looked_up)
            fused = bm[cand].astype(np.float64)
            parts = {"bm25": bm[cand]}
        else:
            assert self.encoder is not None and self.dense is not None
            qv = self.encoder.encode_queries([query])[0]
            with _one_faiss_thread():
                d_rows, _ = self.dense.search(qv, n_cand, mask)
            cand = (
                np.union1d(d_rows, looked_up)
                if mode is SearchMode.DENSE
                else np.union1d(np.union1d(bm_rows, d_rows), looked_up)
            )
            dn = self.dense.scores_for(qv, cand)
            if mode is SearchMode.DENSE:
                fused = dn.astype(np.float64)
                parts = {"dense": dn}
            else:
                w = self.bm25_weight_for(tokens, float(bm.max()) if bm.size else 0.0)
                fused = self._fuse(bm[cand], dn, w)
                parts = {"bm25": bm[cand], "dense": dn, "bm25_weight": np.full(len(cand), w)}
        if not cand.size:
            return None
        known = list(dict.fromkeys(t for t in tokens if t in self.bm25.vocab))
        idf = dict(zip(known, (float(x) for x in self.bm25.idf_of(self.bm25.query_ids(known))), strict=True))
        c = ranking.Candidates(cand, bm[cand], dn, fused, np.isin(cand, looked_up), idf)
        return c, parts

    def active_ranker(self) -> ranking.LearnedRanker | None:
        """`self.ranker` if set, else the configured artifact when `config.ranking` is learned (loaded once;
        an unreadable one is logged and the fusion used)."""
        if self.ranker is not None or self.config.ranking is not Ranking.LEARNED:
            return self.ranker
        return ranking.load_shared(self.config.ranker_path or ranking.DEFAULT_RANKER_PATH)

    def _mode(self, mode: SearchMode | str | None) -> SearchMode:
        return (
            self.config.mode if mode is None else (mode if isinstance(mode, SearchMode) else SearchMode.from_str(mode))
        )

    def bm25_weight_for(self, tokens: Sequence[str], best_bm25: float) -> float:
        """The query's BM25 weight in fusion (see IndexConfig.bm25_weight_slope)."""
        cfg = self.config
        if cfg.bm25_weight_slope == 0.0:
            return cfg.bm25_weight
        idf_sum = float(self.bm25.idf_of(self.bm25.query_ids(tokens)).sum())
        match = best_bm25 / idf_sum if idf_sum > 0 else 0.0
        return min(1.0, max(0.0, cfg.bm25_weight + cfg.bm25_weight_slope * match))

    def _fuse(self, bm: np.ndarray, dn: np.ndarray, w: float) -> np.ndarray:
        if self.config.fusion is FusionMethod.RRF:
            # Unmatched BM25 candidates (score 0) were not retrieved lexically.
            r_bm = np.where(bm > 0, fusion.ranks(bm), 0)
            return fusion.rrf([r_bm, fusion.ranks(dn)], [w, 1.0 - w], k=self.config.rrf_k)
        return fusion.convex(bm, dn, w)


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """faiss' exact search of one query in this thread only: its OpenMP team of two, on two cores
    shared with the encoder and other requests, made a 40k-row search 5x slower (88 vs 16 ms).
    OpenMP's thread count is per calling thread, so other threads (an HNSW build) keep theirs."""
    prev = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(prev)


def _top_positive(scores: np.ndarray, k: int) -> np.ndarray:
    pos = np.flatnonzero(scores > 0)
    if pos.size > k:
        pos = pos[np.argpartition(-scores[pos], k - 1)[:k]]
    return pos


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
