"""Dense vectors in faiss: exact inner product for small corpora, HNSW above a threshold.

Row i is passage i of the owning index. Removal is a mask (faiss' HNSW cannot
delete); masked rows are excluded inside the faiss search through a bitmap ID
selector, and a selective mask on an HNSW index is searched exactly over the
index's flat storage instead of the graph.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from index.storage import IndexFormatError, check, read_json, read_npy, reading

logger = logging.getLogger(__name__)

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# At or below this many allowed rows an HNSW index is searched exactly (cheap enough, and exact).
EXACT_FALLBACK_ROWS = 20_000
# The embedding cache is written after every this many new vectors.
SAVE_EVERY = 4096


class DenseIndex:
    def __init__(self, dim: int, ann_threshold: int = 50_000) -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        self.dim = dim
        self.ann_threshold = ann_threshold
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self._faiss: faiss.Index = faiss.IndexFlatIP(dim)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def is_approximate(self) -> bool:
        return isinstance(self._faiss, faiss.IndexHNSWFlat)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), got {vectors.shape}")
        self.vectors = np.concatenate([self.vectors, vectors]) if len(self.vectors) else vectors
        if not self.is_approximate and len(self.vectors) >= self.ann_threshold:
            self._faiss = self._make_hnsw(self.vectors)
        else:
            self._faiss.add(vectors)

    def _make_hnsw(self, vectors: np.ndarray) -> faiss.Index:
        idx = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        idx.add(vectors)
        return idx

    def search(self, query: np.ndarray, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-k allowed rows by inner product: (rows, scores), best first.

        The whole search runs in faiss in the calling thread: masked rows are skipped through a
        bitmap selector, so no allowed rows are copied and no multi-threaded BLAS mat-vec runs
        inside a request (that thrashed under concurrent requests). One query never starts
        faiss' OpenMP team either.
        """
        if mask.shape != (len(self),):
            raise ValueError(f"mask must have shape ({len(self)},), got {mask.shape}")
        n_allowed = int(np.count_nonzero(mask))
        k = min(k, n_allowed)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        index, params = self._faiss, None
        if n_allowed < len(self):
            sel = faiss.IDSelectorBitmap(np.packbits(mask, bitorder="little"))
            if not self.is_approximate:
                params = faiss.SearchParameters(sel=sel)
            elif n_allowed <= EXACT_FALLBACK_ROWS:
                # Few allowed rows starve the graph walk: scan the HNSW's own flat storage exactly.
                index, params = faiss.downcast_index(self._faiss.storage), faiss.SearchParameters(sel=sel)
            else:
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=max(HNSW_EF_SEARCH, k))
        elif self.is_approximate:
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        scores, rows = index.search(q, k, params=params)
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]

    def scores_for(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Exact similarity of the query to given rows (to score the other side's candidates).

        einsum, not `@`: a few hundred rows do not need BLAS, and BLAS' thread pool is what
        thrashes when many requests run at once.
        """
        return np.einsum("ij,j->i", self.vectors[rows], np.asarray(query, dtype=np.float32).ravel())

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "vectors.npy", self.vectors)
        if self.is_approximate:
            faiss.write_index(self._faiss, str(path / "hnsw.faiss"))
        (path / "params.json").write_text(
            json.dumps({"dim": self.dim, "ann_threshold": self.ann_threshold, "hnsw": self.is_approximate}),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read a saved index; a missing, torn or inconsistent file raises IndexFormatError naming it."""
        pf = path / "params.json"
        params = read_json(pf)
        with reading(pf):
            self = cls(int(params["dim"]), int(params["ann_threshold"]))
            hnsw = bool(params["hnsw"])
        vf = path / "vectors.npy"
        vectors = read_npy(vf, 2, "f")
        check(vectors.shape[1] == self.dim, vf, f"vectors of dim {vectors.shape[1]}, {pf} says {self.dim}")
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if hnsw:
            hf = path / "hnsw.faiss"
            with reading(hf):
                self._faiss = faiss.read_index(str(hf))
            check(isinstance(self._faiss, faiss.IndexHNSWFlat), hf, f"not an HNSW index: {type(self._faiss)}")
            check(
                self._faiss.d == self.dim and self._faiss.ntotal == len(self.vectors),
                hf,
                f"{self._faiss.ntotal} vectors of dim {self._faiss.d}, {vf} has {self.vectors.shape}",
            )
        else:
            self._faiss.add(self.vectors)
        return self


class EmbeddingCache:
    """Vectors keyed by a hash of (encoder name, text): unchanged passages are never re-encoded.

    Stored as two arrays in a directory; saves are atomic (temp files renamed into place).
    """

    def __init__(self, path: Path, encoder_name: str, dim: int) -> None:
        self.path = Path(path)
        self.encoder_name = encoder_name
        self.dim = dim
        self._keys: dict[bytes, int] = {}
        self._vecs: list[np.ndarray] = []
        self._dirty = False
        keys_f, vecs_f = self.path / "keys.npy", self.path / "vectors.npy"
        if not keys_f.exists() and not vecs_f.exists():
            return
        try:
            check(keys_f.exists() and vecs_f.exists(), self.path, "keys.npy and vectors.npy must both exist")
            keys = read_npy(keys_f, 2, "u")
            check(keys.shape[1] == 16, keys_f, f"keys must be 16 bytes, got shape {keys.shape}")
            vecs = read_npy(vecs_f, 2, "f")
            check(vecs.shape[1] == dim, vecs_f, f"vectors of dim {vecs.shape[1]}, the encoder's is {dim}")
            check(len(keys) == len(vecs), vecs_f, f"{len(vecs)} vectors for {len(keys)} keys in {keys_f}")
        except IndexFormatError as e:
            # Only a cache: start empty (everything is re-encoded) and drop the damaged files.
            logger.warning("embedding cache unusable, rebuilding it: %s", e)
            keys_f.unlink(missing_ok=True)
            vecs_f.unlink(missing_ok=True)
            return
        self._keys = {bytes(k): i for i, k in enumerate(keys.astype(np.uint8, copy=False))}
        self._vecs = [np.ascontiguousarray(vecs, dtype=np.float32)]

    def key(self, text: str) -> bytes:
        return hashlib.blake2b(f"{self.encoder_name}\x00{text}".encode(), digest_size=16).digest()

    def __len__(self) -> int:
        return len(self._keys)

    def encode(self, texts: Sequence[str], encode_fn, batch: int = 256, progress=None) -> np.ndarray:
        """Vectors for `texts`, encoding only those not cached yet."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        all_vecs = np.concatenate(self._vecs) if len(self._vecs) > 1 else (self._vecs[0] if self._vecs else None)
        if all_vecs is not None:
            self._vecs = [all_vecs]
        keys = [self.key(t) for t in texts]
        # One encoding per distinct uncached text: rows of the store and its keys stay one-to-one.
        missing: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in self._keys and k not in missing:
                missing[k] = i
        todo = list(missing.items())
        done = 0
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            vecs = np.asarray(encode_fn([texts[i] for _, i in part]), dtype=np.float32)
            base = sum(len(v) for v in self._vecs)
            self._vecs.append(vecs)
            for off, (k, _) in enumerate(part):
                self._keys[k] = base + off
            self._dirty = True
            done += len(part)
            if done % SAVE_EVERY < len(part):
                self.save()  # a long encoding run that dies keeps most of its work
            if progress:
                progress("encode", done, len(todo))
        if todo:
            all_vecs = np.concatenate(self._vecs)
            self._vecs = [all_vecs]
        for i, k in enumerate(keys):
            out[i] = all_vecs[self._keys[k]]
        return out

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        vecs = np.concatenate(self._vecs) if self._vecs else np.zeros((0, self.dim), np.float32)
        self._vecs = [vecs]
        keys = np.zeros((len(self._keys), 16), dtype=np.uint8)
        for k, i in self._keys.items():
            keys[i] = np.frombuffer(k, dtype=np.uint8)
        for name, arr in (("keys.npy", keys), ("vectors.npy", vecs)):
            tmp = self.path / f".{name}.tmp.npy"
            np.save(tmp, arr)
            tmp.replace(self.path / name)
        self._dirty = False
