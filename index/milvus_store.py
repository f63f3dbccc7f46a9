"""The Milvus side of the policy index: collection schemas, filter expressions, BM25 as a sparse vector.

BM25 is this project's (jieba tokens from index.tokenize, index.bm25's formulas) written as a
sparse inner product: a passage stores, per token, the saturated and length-normalised term
frequency; a query sends each token's IDF (times its count in the query). Their inner product is
exactly the bm25s score of the embedded backend, as long as the passages were weighted with the
current average passage length; `SparseBM25.drift` says when they are not, and MilvusIndex
re-weights every passage then. IDF needs no re-weighting: it is computed per query from the
document frequencies kept here.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from index.bm25 import BM25Method, _idf, _tfc
from index.types import Filters

KEY_SPACE = 2**32 - 1  # sparse vector indices are uint32 below this
NOTHING = "__nothing__"  # a filter that can match no document: search is skipped, [] returned


def connect(uri: str) -> Any:
    """A MilvusClient: a local `*.db` path starts Milvus Lite in process, http(s):// reaches a server."""
    try:
        from pymilvus import MilvusClient
    except ImportError as e:  # pragma: no cover - pymilvus is a dependency
        raise ImportError("the milvus backend needs pymilvus (and milvus-lite for a local path)") from e
    if not uri.startswith(("http://", "https://", "tcp://")) and not uri.endswith(".db"):
        raise ValueError(
            f"milvus URI must be a local path ending in .db (Milvus Lite) or http://host:19530, got {uri!r}"
        )
    return MilvusClient(uri)


def token_key(token: str) -> int:
    """A token's sparse dimension: a stable hash, so every service replica agrees without a shared vocabulary."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little") % KEY_SPACE


# ---------------------------------------------------------------- filter expressions
def quote(value: str) -> str:
    """A Milvus string literal (C-style escapes); no character of `value` can end it early."""
    return json.dumps(value, ensure_ascii=False)


def filter_expression(f: Filters | None) -> str | None:
    """Filters as a Milvus boolean expression over the passage fields; None for "any", NOTHING for none.

    Substring filters become LIKE; a `%` or `_` in the value would be a wildcard there, so the
    backend checks every candidate with `Filters.accepts` afterwards as well (same semantics as
    the embedded backend, whatever the expression engine does with them).
    """
    if f is None or f.is_empty():
        return None
    if f.doc_ids is not None and not f.doc_ids:
        return NOTHING
    parts: list[str] = []
    if f.status:
        parts.append(f"status in [{', '.join(quote(s.value) for s in sorted(f.status, key=lambda s: s.value))}]")
    if f.issuer:
        parts.append(f"issuer like {quote('%' + f.issuer + '%')}")
    if f.date_from:
        parts.append(f"publish_date >= {quote(f.date_from)}")
    if f.date_to:
        parts.append(f'publish_date != "" and publish_date <= {quote(f.date_to)}')
    if f.region:
        parts.append(f"region like {quote('%' + f.region + '%')}")
    if f.collection:
        parts.append(f"collection == {quote(f.collection)}")
    if f.topic:
        parts.append(f"topics like {quote('%' + f.topic + '%')}")
    if f.doc_type:
        parts.append(f"doc_type == {quote(f.doc_type)}")
    if f.doc_ids is not None:
        parts.append(f"doc_id in [{', '.join(quote(i) for i in sorted(f.doc_ids))}]")
    return " and ".join(f"({p})" for p in parts)


def and_expr(a: str | None, b: str | None) -> str | None:
    if a and b:
        return f"({a}) and ({b})"
    return a or b


# ---------------------------------------------------------------- BM25 weights
class SparseBM25:
    """Corpus statistics of the live passages and the sparse vectors of both sides."""

    def __init__(self, k1: float, b: float, method: BM25Method | str) -> None:
        self.k1, self.b = float(k1), float(b)
        self.method = method if isinstance(method, BM25Method) else BM25Method.from_str(method)
        self.df: Counter[int] = Counter()
        # Every token key ever indexed: a query made only of words the corpus once used is not junk
        # (the embedded backend keeps its vocabulary the same way).
        self.seen: set[int] = set()
        self.n_live = 0
        self.total_dl = 0
        self.weighted_avgdl = 1.0  # the average length the stored passage vectors were weighted with

    @property
    def avgdl(self) -> float:
        return self.total_dl / self.n_live if self.n_live and self.total_dl else 1.0

    def count(self, keys: Iterable[int], dl: int, sign: int = 1) -> None:
        """Add (sign 1) or drop (sign -1) one passage from the statistics."""
        for k in keys:
            self.df[k] += sign
            if sign > 0:
                self.seen.add(k)
            elif self.df[k] <= 0:
                del self.df[k]
        self.n_live += sign
        self.total_dl += sign * dl

    def drift(self) -> float:
        """Relative gap between the current average length and the one passages are weighted with."""
        return abs(self.avgdl / self.weighted_avgdl - 1.0)

    def passage_vector(self, tokens: Sequence[str]) -> dict[int, float]:
        tf = Counter(token_key(t) for t in tokens)
        return self.weights(tf, len(tokens), self.weighted_avgdl)

    def weights(self, tf: Counter[int] | dict[int, float], dl: int, avgdl: float) -> dict[int, float]:
        keys = list(tf)
        if not keys:
            return {}
        import numpy as np

        t = np.asarray([float(tf[k]) for k in keys])
        w = _tfc(self.method, t, np.full(len(keys), float(dl)), avgdl, self.k1, self.b)
        return {k: float(v) for k, v in zip(keys, w, strict=True)}

    def term_frequencies(self, vector: dict[int, float], dl: int, avgdl: float) -> dict[int, float]:
        """Invert `weights`: the integer term frequencies a stored vector was made from."""
        norm = self.k1 * (1 - self.b + self.b * dl / avgdl)
        top = self.k1 + 1 if self.method is BM25Method.ATIRE else 1.0
        return {k: float(max(1, round(w * norm / (top - w)))) for k, w in vector.items() if w > 0}

    def idf(self, keys: Sequence[int]) -> list[float]:
        if not keys:
            return []
        import numpy as np

        df = np.asarray([self.df.get(k, 0) for k in keys], dtype=np.int64)
        return [float(x) for x in _idf(self.method, df, max(self.n_live, 1))]

    def query_keys(self, tokens: Sequence[str]) -> list[int]:
        """Keys of the query tokens the corpus knows, duplicates kept (bm25s counts them twice too)."""
        return [k for k in (token_key(t) for t in tokens) if k in self.seen]

    def query_vector(self, tokens: Sequence[str]) -> dict[int, float]:
        keys = self.query_keys(tokens)
        out: dict[int, float] = {}
        for k, w in zip(keys, self.idf(keys), strict=True):
            if self.df.get(k, 0) > 0:
                out[k] = out.get(k, 0.0) + w
        return out

    def idf_sum(self, tokens: Sequence[str]) -> float:
        return float(sum(self.idf(self.query_keys(tokens))))


def sparse_dot(a: dict[int, float], b: dict[int, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return math.fsum(v * b[k] for k, v in a.items() if k in b)


def as_sparse(value: Any) -> dict[int, float]:
    """A sparse vector as Milvus returns it (dict, or a scipy row on some clients) as {key: weight}."""
    if isinstance(value, dict):
        return {int(k): float(v) for k, v in value.items()}
    if hasattr(value, "tocoo"):
        coo = value.tocoo()
        return {int(k): float(v) for k, v in zip(coo.col, coo.data, strict=True)}
    raise TypeError(f"unexpected sparse vector {type(value).__name__}")
