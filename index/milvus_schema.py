"""Milvus collections of the policy index: schemas, rows <-> passages, and the three searches.

Plain functions over a MilvusClient, so MilvusIndex (index.milvus) keeps only what decides a ranking.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from corpus.models import Document, Passage
from index.milvus_store import and_expr, quote

TEXT_MAX = 65_535  # Milvus' VARCHAR limit
BODY_CHARS = 16_000  # a document's JSON is stored in pieces of this many characters (<= 3 bytes each)
ROW_CAP = 16_384  # Milvus' cap on the rows of one query
SCAN_WINDOW = 8192  # seq values per scan query
SCALARS = ["pk", "seq", "doc_id", "position", "start", "end", "dl", "title", "heading", "sources", "text"]


@dataclass(frozen=True)
class MilvusOptions:
    """How the collections are laid out (plain values; the service's Settings builds one)."""

    collection: str = "policy"
    index_type: str = "HNSW"  # HNSW, IVF_FLAT or FLAT for the dense field
    native_bm25: bool = False
    # Passages are re-weighted when the average passage length drifts by more than this share.
    reweight_drift: float = 0.02

    def __post_init__(self) -> None:
        if not self.collection.replace("_", "").isalnum() or not self.collection[0].isalpha():
            raise ValueError(
                f"collection must be letters, digits and _ starting with a letter, got {self.collection!r}"
            )
        if self.index_type not in ("HNSW", "IVF_FLAT", "FLAT"):
            raise ValueError(f"index_type must be one of HNSW, IVF_FLAT, FLAT, got {self.index_type!r}")
        if not 0.0 <= self.reweight_drift <= 1.0:
            raise ValueError(f"reweight_drift must be in [0, 1], got {self.reweight_drift}")


# ---------------------------------------------------------------- schemas
def passage_schema(client: Any, dim: int | None, native_bm25: bool, analyzer: dict[str, Any] | None) -> Any:
    from pymilvus import DataType, Function, FunctionType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1024)
    s.add_field("seq", DataType.INT64)  # insertion order: ties break as in the embedded backend
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    for name in ("position", "start", "end", "dl"):
        s.add_field(name, DataType.INT64)
    s.add_field("title", DataType.VARCHAR, max_length=TEXT_MAX)
    s.add_field("heading", DataType.VARCHAR, max_length=TEXT_MAX)  # heading path, JSON
    s.add_field("sources", DataType.VARCHAR, max_length=TEXT_MAX)  # Passage.source_ids, JSON
    s.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
    # Metadata of the passage's document, for filter expressions.
    s.add_field("status", DataType.VARCHAR, max_length=32)
    for name in ("issuer", "region", "collection", "doc_type"):
        s.add_field(name, DataType.VARCHAR, max_length=2048)
    s.add_field("publish_date", DataType.VARCHAR, max_length=16)
    s.add_field("topics", DataType.VARCHAR, max_length=TEXT_MAX)  # "|t1|t2|", for LIKE
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    if dim is not None:
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    if native_bm25:
        s.add_field("lexical", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True, analyzer_params=analyzer)
        s.add_field("native", DataType.SPARSE_FLOAT_VECTOR)
        s.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["lexical"],
                output_field_names=["native"],
                params={},
            )
        )
    return s


def passage_indexes(client: Any, dense: bool, native_bm25: bool, index_type: str, hnsw_m: int, ef_build: int) -> Any:
    ip = client.prepare_index_params()
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    if dense:
        params = {"M": hnsw_m, "efConstruction": ef_build} if index_type == "HNSW" else {}
        if index_type == "IVF_FLAT":
            params = {"nlist": 128}
        ip.add_index("dense", index_type=index_type, metric_type="IP", params=params)
    if native_bm25:
        ip.add_index("native", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return ip


def docs_schema(client: Any) -> Any:
    from pymilvus import DataType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=1100)
    s.add_field("kind", DataType.VARCHAR, max_length=8)  # "doc" or "meta"
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    s.add_field("part", DataType.INT64)
    s.add_field("seq", DataType.INT64)  # write order, so a scan can page through windows of it
    s.add_field("body", DataType.VARCHAR, max_length=TEXT_MAX)
    s.add_field("vec", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field in every collection
    return s


def docs_indexes(client: Any) -> Any:
    ip = client.prepare_index_params()
    ip.add_index("vec", index_type="FLAT", metric_type="L2")
    return ip


def body_rows(kind: str, doc_id: str, body: str, seq: int) -> list[dict[str, Any]]:
    pieces = [body[i : i + BODY_CHARS] for i in range(0, len(body), BODY_CHARS)] or [""]
    return [
        {"pk": f"{kind}:{doc_id}:{i}", "kind": kind, "doc_id": doc_id, "part": i, "seq": seq, "body": p,
         "vec": [0.0, 0.0]}
        for i, p in enumerate(pieces)
    ]  # fmt: skip


# ---------------------------------------------------------------- collections
def create_collection(client: Any, name: str, schema: Any, index_params: Any) -> None:
    client.create_collection(name, schema=schema, consistency_level="Strong")
    # The collection is empty: its index is built at once, no need for pymilvus' 0.5 s polling.
    client.create_index(name, index_params, sync=False)
    client.load_collection(name)


def scan(client: Any, name: str, expr: str | None, fields: list[str], end: int) -> Iterator[dict[str, Any]]:
    """Every row matching `expr`, a window of `seq` (0..end) at a time: a query returns at most
    16,384 rows, and Milvus Lite has no query iterator. Deletions only leave windows thinner."""
    for lo in range(0, end, SCAN_WINDOW):
        window = f"seq >= {lo} and seq < {lo + SCAN_WINDOW}"
        yield from client.query(name, filter=and_expr(window, expr), output_fields=fields, limit=ROW_CAP)


def read_meta(client: Any, name: str) -> dict[str, Any] | None:
    rows = client.query(name, filter='kind == "meta"', output_fields=["part", "body"])
    if not rows:
        return None
    return json.loads("".join(r["body"] for r in sorted(rows, key=lambda r: r["part"])))


def read_documents(client: Any, name: str, end: int) -> dict[str, Document]:
    pieces: dict[str, list[tuple[int, str]]] = {}
    for r in scan(client, name, 'kind == "doc"', ["doc_id", "part", "body"], end):
        pieces.setdefault(r["doc_id"], []).append((r["part"], r["body"]))
    return {i: Document.from_dict(json.loads("".join(b for _, b in sorted(p)))) for i, p in pieces.items()}


def close(client: Any, uri: str) -> None:
    """Close the connection, and stop the in-process Milvus Lite server of a local path."""
    client.close()
    if not uri.startswith(("http://", "https://", "tcp://")):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(os.path.abspath(uri))


# ---------------------------------------------------------------- searches
def search_sparse(client: Any, name: str, qsparse: dict[int, float], limit: int, expr: str | None) -> dict[str, float]:
    """Passage pk -> inner product with the query's BM25 vector, for the `limit` best (score > 0)."""
    if not qsparse:
        return {}
    res = client.search(
        name, data=[qsparse], anns_field="sparse", limit=limit, filter=expr or "",
        search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}, output_fields=["pk"],
    )  # fmt: skip
    return {hit_pk(h): float(h["distance"]) for h in res[0] if float(h["distance"]) > 0}


def search_native(client: Any, name: str, query: str, limit: int, expr: str | None) -> dict[str, float]:
    """Passage pk -> Milvus' own BM25 score (its analyzer on the raw query)."""
    res = client.search(
        name, data=[query], anns_field="native", limit=limit, filter=expr or "",
        search_params={"metric_type": "BM25"}, output_fields=["pk"],
    )  # fmt: skip
    # Milvus Lite reports BM25 as a negated distance; a server as a positive score.
    return {hit_pk(h): abs(float(h["distance"])) for h in res[0] if float(h["distance"]) != 0}


def search_dense(
    client: Any, name: str, qv: np.ndarray, limit: int, expr: str | None, index_type: str, ef: int
) -> set[str]:
    params: dict[str, Any] = {"ef": max(ef, limit)} if index_type == "HNSW" else {}
    if index_type == "IVF_FLAT":
        params = {"nprobe": 32}
    res = client.search(
        name, data=[np.asarray(qv, dtype=np.float32).tolist()], anns_field="dense", limit=limit,
        filter=expr or "", search_params={"metric_type": "IP", "params": params}, output_fields=["pk"],
    )  # fmt: skip
    return {hit_pk(h) for h in res[0]}


def fetch(client: Any, name: str, pks: set[str], looked_up: list[str], with_dense: bool) -> list[dict[str, Any]]:
    """The candidate rows (by pk) plus every passage of the looked-up documents, with their vectors."""
    fields = [*SCALARS, "sparse"] + (["dense"] if with_dense else [])
    rows = list(client.get(name, ids=sorted(pks), output_fields=fields)) if pks else []
    if looked_up:
        expr = f"doc_id in [{', '.join(map(quote, looked_up))}]"
        got = {r["pk"] for r in rows}
        extra = client.query(name, filter=expr, output_fields=fields, limit=ROW_CAP)
        rows += [r for r in extra if r["pk"] not in got]
    return rows


# ---------------------------------------------------------------- rows
def hit_pk(h: dict[str, Any]) -> str:
    ent = h.get("entity") or {}
    return str(ent.get("pk", h.get("pk", h.get("id"))))


def passage_row(p: Passage, d: Document, seq: int, tokens: list[str], sparse: dict[int, float]) -> dict[str, Any]:
    return {
        "pk": p.id,
        "seq": seq,
        "doc_id": p.doc_id,
        "position": p.position,
        "start": p.start,
        "end": p.end,
        "dl": len(tokens),
        "title": p.title,
        "heading": json.dumps(list(p.heading_path), ensure_ascii=False),
        "sources": json.dumps(list(p.source_ids), ensure_ascii=False),
        "text": p.text,
        "status": d.status.value,
        "issuer": (d.issuer or "")[:600],
        "region": (d.region or "")[:600],
        "collection": (d.collection or "")[:600],
        "doc_type": (d.doc_type or "")[:600],
        "publish_date": (d.publish_date or "")[:10],
        "topics": "|" + "|".join(d.topics) + "|" if d.topics else "",
        "sparse": sparse,
    }


def row_passage(r: Mapping[str, Any]) -> Passage:
    return Passage(
        id=r["pk"],
        doc_id=r["doc_id"],
        position=int(r["position"]),
        text=r["text"],
        start=int(r["start"]),
        end=int(r["end"]),
        title=r["title"],
        heading_path=tuple(json.loads(r["heading"])),
        source_ids=tuple(json.loads(r["sources"])),
    )
