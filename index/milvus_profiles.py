"""Push matching on Milvus: subscribers' profiles as scalar and ARRAY fields plus a description vector.

The push rule of `corpus.push.matching.match` becomes one filter expression (kind, area by
equality, shared groups or topics by ARRAY_CONTAINS_ANY), so Milvus selects exactly the profiles a
document reaches; ranking them is a vector search over that filtered set. `MatchReason`s are
rebuilt from the stored arrays in the reference's order (document order, duplicates kept).
The local twin is `corpus.push.columnar.ColumnarMatcher`; tests/index/test_milvus_profiles.py
holds both to the reference on generated profiles.

Absent area parts are stored as "" (a Profile never holds "" itself), so `Jurisdiction.covers`'
comparisons with None hold exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from corpus.push.matching import MatchReason
from corpus.push.profiles import Profile
from corpus.push.targeting import JurisdictionLevel, Targeting
from corpus.push.taxonomy import GROUPS, TOPICS
from index.milvus_store import connect, quote

MAX_LIMIT = 16_384  # Milvus' cap on one search's or query's rows
_FIELDS = ["pk", "seq", "kind", "province", "city", "district", "groups", "topics"]


def rule_expression(t: Targeting) -> str | None:
    """The push rule as a Milvus filter over profile fields; None when it can reach nobody."""
    if t.expired or not t.audience:
        return None
    interest = ("groups", t.groups) if t.groups else ("topics", t.topics)
    if not interest[1]:
        return None
    parts = [f"kind in [{', '.join(quote(a.value) for a in sorted(set(t.audience), key=lambda a: a.value))}]"]
    j = t.jurisdiction
    if j.level is not JurisdictionLevel.NATIONAL:
        parts.append(f"province == {quote(j.province or '')}")
        if j.level is not JurisdictionLevel.PROVINCIAL:
            parts.append(f"city == {quote(j.city or '')}")
            if j.level is JurisdictionLevel.DISTRICT:
                if not j.districts:
                    return None
                parts.append(f"district in [{', '.join(quote(d) for d in sorted(set(j.districts)))}]")
    parts.append(f"ARRAY_CONTAINS_ANY({interest[0]}, [{', '.join(quote(v) for v in sorted(set(interest[1])))}])")
    return " and ".join(parts)


class MilvusProfiles:
    """Profiles in one Milvus collection; `match` returns the reference's pairs, ranked by a query vector."""

    def __init__(self, uri: str, dim: int, collection: str = "push_profiles", index_type: str = "HNSW") -> None:
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if index_type not in ("HNSW", "IVF_FLAT", "FLAT"):
            raise ValueError(f"index_type must be one of HNSW, IVF_FLAT, FLAT, got {index_type!r}")
        self.uri, self.dim, self.name, self.index_type = uri, dim, collection, index_type
        self.client = connect(uri)
        self._next_seq = 0
        if self.client.has_collection(collection):
            self.client.load_collection(collection)
            self._next_seq = self._max_seq() + 1
        else:
            self._create()

    def _max_seq(self) -> int:
        """Largest stored seq (-1 when empty): Milvus has no max() aggregate, so ask for rows above the best so far."""
        best = -1
        while rows := self.client.query(self.name, filter=f"seq > {best}", output_fields=["seq"], limit=MAX_LIMIT):
            best = max(int(r["seq"]) for r in rows)
            if len(rows) < MAX_LIMIT:
                break
        return best

    def _create(self) -> None:
        from pymilvus import DataType

        s = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=256)
        s.add_field("seq", DataType.INT64)  # subscription order: ties rank as in the columnar matcher
        s.add_field("kind", DataType.VARCHAR, max_length=16)
        for f in ("province", "city", "district"):
            s.add_field(f, DataType.VARCHAR, max_length=64)
        s.add_field("groups", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=len(GROUPS), max_length=64)
        s.add_field("topics", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=len(TOPICS), max_length=64)
        s.add_field("vec", DataType.FLOAT_VECTOR, dim=self.dim)
        ip = self.client.prepare_index_params()
        params = {"M": 16, "efConstruction": 64} if self.index_type == "HNSW" else {}
        ip.add_index("vec", index_type=self.index_type, metric_type="IP", params=params)
        for f in ("kind", "province", "city", "district"):
            ip.add_index(f, index_type="INVERTED")
        self.client.create_collection(self.name, schema=s, consistency_level="Strong")
        self.client.create_index(self.name, ip, sync=False)
        self.client.load_collection(self.name)

    def close(self) -> None:
        self.client.close()

    # -- writes ---------------------------------------------------------------------------------------
    def add(self, profiles: Iterable[Profile], vectors: np.ndarray | None = None) -> None:
        """Subscribe (or edit: same id replaces) profiles; `vectors` one row per profile, or zeros."""
        profiles = list(profiles)
        if vectors is not None and np.shape(vectors) != (len(profiles), self.dim):
            raise ValueError(f"vectors must have shape ({len(profiles)}, {self.dim}), got {np.shape(vectors)}")
        rows = []
        for i, p in enumerate(profiles):
            vec = np.zeros(self.dim, dtype=np.float32) if vectors is None else np.asarray(vectors[i], dtype=np.float32)
            rows.append(
                {
                    "pk": p.profile_id,
                    "seq": self._next_seq + i,
                    "kind": p.kind.value,
                    "province": p.province or "",
                    "city": p.city or "",
                    "district": p.district or "",
                    "groups": list(dict.fromkeys(p.groups)),
                    "topics": list(dict.fromkeys(p.topics)),
                    "vec": vec.tolist(),
                }
            )
        self._next_seq += len(rows)
        for s in range(0, len(rows), 1000):
            self.client.upsert(self.name, rows[s : s + 1000])

    def remove(self, profile_ids: Iterable[str]) -> None:
        ids = list(profile_ids)
        if ids:
            self.client.delete(self.name, ids=ids)

    # -- reads ----------------------------------------------------------------------------------------
    def count(self, t: Targeting) -> int:
        expr = rule_expression(t)
        if expr is None:
            return 0
        return int(self.client.query(self.name, filter=expr, output_fields=["count(*)"])[0]["count(*)"])

    def _rows(self, expr: str) -> Iterator[dict[str, Any]]:
        lo = 0
        while lo < self._next_seq:  # windows of seq keep each query under Milvus' row cap
            hi = lo + MAX_LIMIT
            yield from self.client.query(
                self.name, filter=f"seq >= {lo} and seq < {hi} and ({expr})", output_fields=_FIELDS, limit=MAX_LIMIT
            )
            lo = hi

    def match(self, t: Targeting, query: np.ndarray | None = None, top_k: int | None = None) -> list[MatchReason]:
        """Every profile the rule reaches (subscription order), or with `query` the `top_k` (<= 16,384)
        nearest of them by description vector, best first."""
        expr = rule_expression(t)
        if expr is None:
            return []
        if query is None:
            rows = sorted(self._rows(expr), key=lambda r: r["seq"])
        else:
            k = min(top_k or MAX_LIMIT, MAX_LIMIT)
            params = {"ef": max(64, k)} if self.index_type == "HNSW" else {}
            res = self.client.search(
                self.name, data=[np.asarray(query, dtype=np.float32).tolist()], anns_field="vec", limit=k, filter=expr,
                search_params={"metric_type": "IP", "params": params}, output_fields=_FIELDS,
            )  # fmt: skip
            hits = [(float(h["distance"]), h["entity"]) for h in res[0]]
            hits.sort(key=lambda x: (-x[0], x[1]["seq"]))
            rows = [e for _, e in hits]
        return [_reason(t, r) for r in rows]


def _reason(t: Targeting, r: dict[str, Any]) -> MatchReason:
    area = t.jurisdiction.label()
    if t.groups:
        mine = set(r["groups"])
        shared = tuple(g for g in t.groups if g in mine)
        evidence = tuple(t.evidence[g] for g in shared if t.evidence.get(g))
        return MatchReason(str(r["pk"]), t.doc_id, area, "group", shared, evidence)
    mine = set(r["topics"])
    return MatchReason(str(r["pk"]), t.doc_id, area, "topic", tuple(x for x in t.topics if x in mine))
