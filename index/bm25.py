"""BM25 over token ids, scored by bm25s.

Passages keep their token ids (a CSR pair of arrays), so adding or removing
passages recomputes the global statistics (document frequencies, average length)
with a vectorised build in seconds, without re-tokenizing anything. Removed
passages drop out of the statistics and can never score.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np

from corpus.models import ChoiceEnum
from index.storage import check, read_json, read_npy, reading

logger = logging.getLogger(__name__)


class BM25Method(ChoiceEnum):
    LUCENE = "lucene"
    ROBERTSON = "robertson"
    ATIRE = "atire"


def _idf(method: BM25Method, df: np.ndarray, n: int) -> np.ndarray:
    """Vectorised twins of bm25s.scoring._score_idf_* (checked against rank-bm25 in tests)."""
    df = df.astype(np.float64)
    if method is BM25Method.LUCENE:
        return np.log(1 + (n - df + 0.5) / (df + 0.5))
    if method is BM25Method.ROBERTSON:
        return np.log(np.maximum((n - df + 0.5) / (df + 0.5), 1.0))
    return np.log(n / np.maximum(df, 1))  # atire


def _tfc(method: BM25Method, tf: np.ndarray, dl: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
    """Vectorised twins of bm25s.scoring._score_tfc_*."""
    norm = 1 - b + b * dl / avgdl
    if method is BM25Method.ATIRE:
        return tf * (k1 + 1) / (tf + k1 * norm)
    return tf / (k1 * norm + tf)


class BM25Index:
    """Token-id store plus a bm25s score matrix over it.

    Row i is passage i of the owning index; `alive[i]` False means removed.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75, method: BM25Method | str = BM25Method.LUCENE) -> None:
        if not 0.0 < k1 <= 10.0:
            raise ValueError(f"k1 must be in (0, 10], got {k1}")
        if not 0.0 <= b <= 1.0:
            raise ValueError(f"b must be in [0, 1], got {b}")
        self.k1, self.b = float(k1), float(b)
        self.method = method if isinstance(method, BM25Method) else BM25Method.from_str(method)
        self.vocab: dict[str, int] = {}
        self._ids = np.zeros(0, dtype=np.int32)
        self._indptr = np.zeros(1, dtype=np.int64)
        self.alive = np.zeros(0, dtype=bool)
        self._engine: bm25s.BM25 | None = None
        self._df = np.zeros(1, dtype=np.int64)
        self._n_live = 0

    # -- building -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._indptr) - 1

    def update(self, add: Sequence[Sequence[str]] = (), remove: Sequence[int] | np.ndarray = ()) -> None:
        """Append passages (as token lists), mark rows removed, then recompute statistics once."""
        rows = np.asarray(remove, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"passage rows out of range 0..{len(self) - 1}")
        if add:
            flat: list[int] = []
            lengths = np.empty(len(add), dtype=np.int64)
            vocab = self.vocab
            for i, toks in enumerate(add):
                for t in toks:
                    tid = vocab.get(t)
                    if tid is None:
                        tid = vocab[t] = len(vocab)
                    flat.append(tid)
                lengths[i] = len(toks)
            self._ids = np.concatenate([self._ids, np.asarray(flat, dtype=np.int32)])
            self._indptr = np.concatenate([self._indptr, self._indptr[-1] + np.cumsum(lengths)])
            self.alive = np.concatenate([self.alive, np.ones(len(add), dtype=bool)])
        self.alive[rows] = False
        if add or rows.size:
            self._rebuild()

    def add(self, token_lists: Sequence[Sequence[str]]) -> None:
        self.update(add=token_lists)

    def remove(self, rows: Sequence[int] | np.ndarray) -> None:
        self.update(remove=rows)

    def _rebuild(self) -> None:
        n_rows = len(self)
        n_vocab = max(len(self.vocab), 1)
        lengths = np.diff(self._indptr)
        row_of = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
        live_tok = self.alive[row_of]
        row_of, ids = row_of[live_tok], self._ids[live_tok].astype(np.int64)
        n_live = int(self.alive.sum())
        # (row, term) pairs with their term frequency, sorted by term then row: CSC order.
        keys, tf = np.unique(ids * n_rows + row_of, return_counts=True)
        terms, rows = keys // n_rows, keys % n_rows
        df = np.bincount(terms, minlength=n_vocab)
        dl = lengths.astype(np.float64)
        avgdl = float(dl[self.alive].mean()) if n_live and dl[self.alive].sum() > 0 else 1.0
        idf = _idf(self.method, df, max(n_live, 1))
        data = (idf[terms] * _tfc(self.method, tf.astype(np.float64), dl[rows], avgdl, self.k1, self.b)).astype(
            np.float32
        )
        indptr = np.zeros(n_vocab + 1, dtype=np.int64)
        np.cumsum(np.bincount(terms, minlength=n_vocab), out=indptr[1:])
        eng = bm25s.BM25(k1=self.k1, b=self.b, method=self.method.value)
        eng.scores = {"data": data, "indices": rows.astype(np.int32), "indptr": indptr, "num_docs": n_rows}
        eng.vocab_dict = self.vocab
        eng.nonoccurrence_array = None
        self._engine = eng
        self._df = df
        self._n_live = n_live

    # -- querying -------------------------------------------------------
    def query_ids(self, tokens: Sequence[str]) -> list[int]:
        """Known token ids of a query; unknown tokens cannot match anything."""
        return [self.vocab[t] for t in tokens if t in self.vocab]

    def idf_of(self, token_ids: Sequence[int]) -> np.ndarray:
        if not token_ids:
            return np.zeros(0)
        return _idf(self.method, self._df[np.asarray(token_ids)], max(self._n_live, 1))

    def scores(self, tokens: Sequence[str], mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every row; removed rows and rows outside `mask` score 0."""
        n = len(self)
        ids = self.query_ids(tokens)
        if not ids or self._engine is None or n == 0:
            return np.zeros(n, dtype=np.float32)
        weight = self.alive if mask is None else (self.alive & mask)
        out = self._engine.get_scores_from_ids(ids, weight_mask=weight.astype(np.float32))
        return np.asarray(out, dtype=np.float32)

    # -- persistence ----------------------------------------------------
    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / "token_ids.npy", self._ids)
        np.save(path / "token_indptr.npy", self._indptr)
        np.save(path / "alive.npy", self.alive)
        eng = self._engine
        if eng is not None:
            np.save(path / "score_data.npy", eng.scores["data"])
            np.save(path / "score_indices.npy", eng.scores["indices"])
            np.save(path / "score_indptr.npy", eng.scores["indptr"])
        np.save(path / "df.npy", self._df)
        stats = {"n_live": self._n_live}
        (path / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
        vocab_list = [""] * len(self.vocab)
        for tok, i in self.vocab.items():
            vocab_list[i] = tok
        (path / "vocab.json").write_text(json.dumps(vocab_list, ensure_ascii=False), encoding="utf-8")
        params = {"k1": self.k1, "b": self.b, "method": self.method.value, "engine": f"bm25s-{bm25s.__version__}"}
        (path / "params.json").write_text(json.dumps(params), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        """Read a saved index; a missing, torn or inconsistent file raises IndexFormatError naming it."""
        pf = path / "params.json"
        params = read_json(pf)
        with reading(pf):
            self = cls(k1=params["k1"], b=params["b"], method=params["method"])
        vf = path / "vocab.json"
        vocab_list = read_json(vf)
        check(isinstance(vocab_list, list) and all(isinstance(t, str) for t in vocab_list), vf, "not a token list")
        self.vocab = {tok: i for i, tok in enumerate(vocab_list)}
        check(len(self.vocab) == len(vocab_list), vf, "a token appears twice")
        p = {
            name: path / f"{name}.npy"
            for name in ("token_ids", "token_indptr", "alive", "df", "score_data", "score_indices", "score_indptr")
        }
        self._ids = read_npy(p["token_ids"], 1, "iu")
        self._indptr = read_npy(p["token_indptr"], 1, "iu")
        self.alive = read_npy(p["alive"], 1, "b")
        self._df = read_npy(p["df"], 1, "iu")
        sf = path / "stats.json"
        with reading(sf):
            self._n_live = int(read_json(sf)["n_live"])
        if len(self._indptr) == 1 and not p["score_data"].exists():
            return self  # saved before any passage was added: there is no score matrix yet
        data = read_npy(p["score_data"], 1, "f")
        indices = read_npy(p["score_indices"], 1, "iu")
        indptr = read_npy(p["score_indptr"], 1, "iu")
        _check_arrays(self, p, data, indices, indptr, sf)
        eng = bm25s.BM25(k1=self.k1, b=self.b, method=self.method.value)
        eng.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": len(self)}
        eng.vocab_dict = self.vocab
        eng.nonoccurrence_array = None
        self._engine = eng
        return self


def _check_arrays(
    idx: BM25Index, p: dict[str, Path], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, stats: Path
) -> None:
    """The saved arrays agree with each other (cheap: lengths, bounds, one sum)."""
    ids, tip = idx._ids, idx._indptr
    check(
        len(tip) >= 1 and tip[0] == 0 and bool((np.diff(tip) >= 0).all()), p["token_indptr"], "not a row-pointer array"
    )
    check(int(tip[-1]) == len(ids), p["token_ids"], f"{len(ids)} token ids, but {p['token_indptr']} ends at {tip[-1]}")
    check(
        not ids.size or (int(ids.min()) >= 0 and int(ids.max()) < len(idx.vocab)),
        p["token_ids"],
        f"token ids outside the vocabulary of {len(idx.vocab)}",
    )
    check(len(idx.alive) == len(idx), p["alive"], f"{len(idx.alive)} rows, {p['token_indptr']} has {len(idx)}")
    check(
        int(idx.alive.sum()) == idx._n_live, p["alive"], f"{int(idx.alive.sum())} live rows, {stats} says {idx._n_live}"
    )
    n_vocab = max(len(idx.vocab), 1)
    check(len(idx._df) == n_vocab, p["df"], f"{len(idx._df)} entries for a vocabulary of {n_vocab}")
    check(
        len(indptr) == n_vocab + 1 and indptr[0] == 0 and bool((np.diff(indptr) >= 0).all()),
        p["score_indptr"],
        f"not a column-pointer array for a vocabulary of {n_vocab} ({len(indptr)} entries)",
    )
    check(
        len(data) == int(indptr[-1]), p["score_data"], f"{len(data)} scores, {p['score_indptr']} ends at {indptr[-1]}"
    )
    check(len(indices) == len(data), p["score_indices"], f"{len(indices)} row indices for {len(data)} scores")
    check(
        not indices.size or (int(indices.min()) >= 0 and int(indices.max()) < len(idx)),
        p["score_indices"],
        f"row indices outside 0..{len(idx) - 1}",
    )
