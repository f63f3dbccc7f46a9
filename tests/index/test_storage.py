"""A saved index is checked part by part on load; a damaged one is rebuilt, never served.

Each corruption below is applied to a saved hybrid index with a removed document (so
some rows are dead and the dead rows' document is absent from documents.jsonl, which
is legitimate) and an HNSW dense side (so hnsw.faiss exists). Every one must make
`PolicyIndex.load` raise IndexFormatError naming the damaged file, both for an index
saved with per-file checksums and for an older one without them (counts only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from index.config import IndexConfig
from index.encoders import FakeEncoder
from index.engine import IndexFormatError, PolicyIndex

from ..conftest import tiny_docs

CONFIG = IndexConfig(mode="hybrid", chunk_max_chars=120, ann_threshold=4)


def _saved(path: Path) -> Path:
    idx = PolicyIndex.build(tiny_docs(), CONFIG, encoder=FakeEncoder(dim=64))
    idx.remove(["tax"])
    idx.save(path)
    return path


def _drop_last_line(f: Path) -> None:
    lines = f.read_bytes().splitlines(keepends=True)
    f.write_bytes(b"".join(lines[:-1]))


def _tear_last_line(f: Path) -> None:
    data = f.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    f.write_bytes(data[: last + (len(data) - last) // 2])


def _bad_utf8(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[10:12] = b"\xff\xfe"
    f.write_bytes(bytes(data))


def _random_bytes(f: Path) -> None:
    f.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())


def _halve(f: Path) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _empty(f: Path) -> None:
    f.write_bytes(b"")


def _one_row_fewer(f: Path) -> None:
    np.save(f, np.load(f)[:-1])


def _one_more_dead_row(f: Path) -> None:
    alive = np.load(f)
    alive[np.flatnonzero(alive)[0]] = False
    np.save(f, alive)


def _flip_a_byte_at_the_end(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))


def _drop_live_document(path: Path) -> None:
    """documents.jsonl loses a document whose passages are live; params.json is made to agree."""
    docs = path / "documents.jsonl"
    lines = [ln for ln in docs.read_text(encoding="utf-8").splitlines() if json.loads(ln)["id"] != "edu"]
    docs.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")
    params = json.loads((path / "params.json").read_text(encoding="utf-8"))
    params["n_documents"] -= 1
    (path / "params.json").write_text(json.dumps(params), encoding="utf-8")


def _on(name: str, damage: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda path: damage(path / name)


# (id, damage to the index directory, the file the error must name)
CORRUPTIONS = [
    ("documents-truncated", _on("documents.jsonl", _drop_last_line), "documents.jsonl"),
    ("documents-torn-line", _on("documents.jsonl", _tear_last_line), "documents.jsonl"),
    ("documents-bad-utf8", _on("documents.jsonl", _bad_utf8), "documents.jsonl"),
    ("documents-missing-live-doc", _drop_live_document, "documents.jsonl"),
    ("passages-truncated", _on("passages.jsonl", _drop_last_line), "passages.jsonl"),
    ("passages-torn-line", _on("passages.jsonl", _tear_last_line), "passages.jsonl"),
    ("params-torn", _on("params.json", _halve), "params.json"),
    ("bm25-alive-random", _on("bm25/alive.npy", _random_bytes), "bm25/alive.npy"),
    ("bm25-alive-count", _on("bm25/alive.npy", _one_more_dead_row), "bm25/alive.npy"),
    ("bm25-token-ids-halved", _on("bm25/token_ids.npy", _halve), "bm25/token_ids.npy"),
    ("bm25-score-data-empty", _on("bm25/score_data.npy", _empty), "bm25/score_data.npy"),
    ("bm25-score-indptr-short", _on("bm25/score_indptr.npy", _one_row_fewer), "bm25/score_indptr.npy"),
    ("bm25-vocab-torn", _on("bm25/vocab.json", _halve), "bm25/vocab.json"),
    ("bm25-df-missing", _on("bm25/df.npy", Path.unlink), "bm25/df.npy"),
    ("dense-vectors-missing", _on("dense/vectors.npy", Path.unlink), "dense/vectors.npy"),
    ("dense-vectors-short", _on("dense/vectors.npy", _one_row_fewer), "dense/vectors.npy"),
    ("dense-vectors-halved", _on("dense/vectors.npy", _halve), "dense/vectors.npy"),
    ("dense-hnsw-random", _on("dense/hnsw.faiss", _random_bytes), "dense/hnsw.faiss"),
    ("dense-hnsw-halved", _on("dense/hnsw.faiss", _halve), "dense/hnsw.faiss"),
]


def _without_checksums(path: Path) -> None:
    """Make the saved index look like one written before per-file checksums existed."""
    pf = path / "params.json"
    params = json.loads(pf.read_text(encoding="utf-8"))
    params.pop("files", None)
    pf.write_text(json.dumps(params), encoding="utf-8")


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "counts-only"])
@pytest.mark.parametrize("damage, names", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_load_names_the_damaged_file(tmp_path, damage, names, checksums):
    path = _saved(tmp_path / "idx")
    if not checksums:
        _without_checksums(path)
    damage(path)
    with pytest.raises(IndexFormatError, match=names.replace("/", r"[/\\]")):
        PolicyIndex.load(path, encoder=FakeEncoder(dim=64))


@pytest.mark.parametrize("checksums", [True, False], ids=["checksums", "counts-only"])
def test_intact_index_loads_with_and_without_checksums(tmp_path, checksums):
    path = _saved(tmp_path / "idx")
    if not checksums:
        _without_checksums(path)
    back = PolicyIndex.load(path, encoder=FakeEncoder(dim=64))
    assert back.get_document("tax") is None  # removed: its dead rows point at no document, as saved
    assert back.search("高校毕业生社保补贴", top_k=1)[0].doc_id == "emp"
    assert back.search("入学报名要带户口簿吗", top_k=1)[0].doc_id == "edu"


def test_params_record_size_and_sha1_of_every_part(tmp_path):
    path = _saved(tmp_path / "idx")
    files = json.loads((path / "params.json").read_text(encoding="utf-8"))["files"]
    assert {"documents.jsonl", "passages.jsonl", "bm25/alive.npy", "dense/vectors.npy", "dense/hnsw.faiss"} <= set(
        files
    )
    assert files["documents.jsonl"]["bytes"] == (path / "documents.jsonl").stat().st_size
    assert len(files["documents.jsonl"]["sha1"]) == 40


def test_checksum_catches_damage_counts_cannot(tmp_path):
    path = _saved(tmp_path / "idx")
    _flip_a_byte_at_the_end(path / "dense" / "vectors.npy")  # same shape, one vector changed
    with pytest.raises(IndexFormatError, match="vectors.npy"):
        PolicyIndex.load(path, encoder=FakeEncoder(dim=64))


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "c.jsonl"
    rows = [{"_id": d.id, "title": d.title, "text": d.text, "collection": "t", "source": "test"} for d in tiny_docs()]
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return corpus


@pytest.mark.parametrize("damage, names", [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_open_or_build_rebuilds_a_damaged_index(tmp_path, caplog, damage, names):
    corpus, cache = _corpus(tmp_path), tmp_path / "cache"
    first = PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=FakeEncoder(dim=64))
    (path,) = [p for p in cache.iterdir() if p.name.startswith("index-")]
    first.remove(["tax"])  # dead rows whose document is gone, as after an admin removal
    first.save(path)
    damage(path)
    with caplog.at_level(logging.WARNING, logger="index.engine"):
        idx = PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=FakeEncoder(dim=64))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in w and "rebuilding" in w for w in warnings), warnings
    assert len(idx.documents) == 5 and len(idx) == len(idx.passages)
    assert idx.search("高校毕业生社保补贴", top_k=1)[0].doc_id == "emp"
    # The rebuilt copy was saved over the damaged one: the next start loads it without a warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="index.engine"):
        again = PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=FakeEncoder(dim=64))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(again.documents) == 5


def test_open_or_build_survives_a_damaged_embedding_cache(tmp_path, caplog):
    corpus, cache = _corpus(tmp_path), tmp_path / "cache"
    enc = FakeEncoder(dim=64)
    PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=enc)
    keys = cache / "embeddings" / enc.name / "keys.npy"
    keys.write_bytes(np.random.default_rng(1).bytes(500))
    for p in [p for p in cache.iterdir() if p.name.startswith("index-")]:
        p.unlink()  # the index must be rebuilt, which reads the embedding cache
    with caplog.at_level(logging.WARNING):
        idx = PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=enc)
    assert idx.search("高校毕业生社保补贴", top_k=1)[0].doc_id == "emp"
    assert any(str(keys) in r.getMessage() for r in caplog.records), caplog.text
    assert np.load(keys).shape == (len(idx.passages), 16)  # rebuilt, not left damaged


def _as_saved_before_source_ids(path: Path, drop_spans: bool) -> None:
    """Rewrite a saved index as the previous version wrote it: no `source_ids` on passages, no
    article spans on laws, and no checksums (its params.json predates them too)."""
    pf = path / "passages.jsonl"
    rows = [json.loads(ln) for ln in pf.read_text(encoding="utf-8").splitlines()]
    pf.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "source_ids"}) + "\n" for r in rows))
    if drop_spans:
        df = path / "documents.jsonl"
        docs = [json.loads(ln) for ln in df.read_text(encoding="utf-8").splitlines()]
        for d in docs:
            d["metadata"].pop("source_spans", None)
        df.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    params = json.loads((path / "params.json").read_text())
    params.pop("files")
    (path / "params.json").write_text(json.dumps(params))


def test_policy_index_saved_before_source_ids_still_loads(tmp_path):
    path = _saved(tmp_path / "idx")
    _as_saved_before_source_ids(path, drop_spans=False)
    idx = PolicyIndex.load(path, encoder=FakeEncoder(dim=64))
    assert all(p.source_ids == (p.doc_id,) for p in idx.passages)  # a policy's source is the document


def test_law_index_saved_before_articles_is_rebuilt(tmp_path, caplog):
    from corpus.loaders import law_from_articles

    rows = [
        {
            "_id": f"a-{i}",
            "title": "某某条例",
            "chapter": "第一章 总则",
            "article": f"第{n}条",
            "text": f"第{n}条 内容{n}。",
        }
        for i, n in enumerate("一二三", 1)
    ]
    corpus = tmp_path / "law.jsonl"
    corpus.write_text("".join(json.dumps({**r, "law_id": "L"}, ensure_ascii=False) + "\n" for r in rows))
    cache = tmp_path / "cache"
    PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=FakeEncoder(dim=64))
    (path,) = [p for p in cache.iterdir() if p.name.startswith("index-")]
    _as_saved_before_source_ids(path, drop_spans=True)
    with pytest.raises(IndexFormatError, match="without its article spans"):
        PolicyIndex.load(path, encoder=FakeEncoder(dim=64))
    with caplog.at_level(logging.WARNING, logger="index.engine"):
        idx = PolicyIndex.open_or_build(corpus, cache, CONFIG, encoder=FakeEncoder(dim=64))
    assert "rebuilding" in caplog.text
    assert [p.source_ids for p in idx.passages] == [("a-1",), ("a-2",), ("a-3",)]
    assert law_from_articles("L", rows).metadata["source_spans"][0]["id"] == "a-1"
