"""Reading a saved index safely: every part is read through here and checked before use.

A part that is missing, torn, not what it claims to be, or disagrees with params.json
or with the other parts raises IndexFormatError naming the file, so the caller
rebuilds instead of serving an index that fails later (a KeyError on the first query).

Writing goes through `write_versioned` (a new version directory, then one symlink swap),
which records the size and sha1 of every other file in params.json (`files`); an index
saved before that existed is checked by counts and shapes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from corpus.models import Document, Passage

__all__ = [
    "IndexFormatError",
    "check",
    "check_rows",
    "file_digests",
    "read_documents",
    "read_json",
    "read_npy",
    "read_passages",
    "reading",
    "verify_digests",
    "write_jsonl",
    "write_versioned",
]


class IndexFormatError(RuntimeError):
    """A saved index that cannot be used with this code or this encoder, or is damaged."""


def check(ok: bool, path: Path, problem: str) -> None:
    if not ok:
        raise IndexFormatError(f"{path}: {problem}; rebuild the index")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Any error while reading `path` (I/O, decoding, a bad value) becomes IndexFormatError naming it."""
    try:
        yield
    except IndexFormatError:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and np.load's "not an .npy file";
        # RuntimeError is what faiss raises for a torn or foreign file.
        raise IndexFormatError(f"{path}: unreadable ({type(e).__name__}: {e}); rebuild the index") from e


def read_json(path: Path) -> Any:
    with reading(path):
        return json.loads(path.read_text(encoding="utf-8"))


def read_npy(path: Path, ndim: int | None = None, kind: str | None = None) -> np.ndarray:
    """A plain .npy array (never pickle); `ndim` and dtype `kind` ("b", "i", "u", "f") are checked if given."""
    with reading(path):
        arr = np.load(path, allow_pickle=False)
    check(isinstance(arr, np.ndarray), path, "not a single .npy array")
    if ndim is not None:
        check(arr.ndim == ndim, path, f"expected a {ndim}-d array, got shape {arr.shape}")
    if kind is not None:
        check(arr.dtype.kind in kind, path, f"unexpected dtype {arr.dtype}")
    return arr


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    with reading(path):
        text = path.read_text(encoding="utf-8")
    check(not text or text.endswith("\n"), path, "last line is torn (no newline at the end)")
    for no, line in enumerate(text.splitlines(), 1):
        with reading(Path(f"{path}:{no}")):
            row = json.loads(line)
        yield no, row


def read_documents(path: Path, expected: int | None) -> dict[str, Document]:
    docs: dict[str, Document] = {}
    for no, row in _read_jsonl(path):
        with reading(Path(f"{path}:{no}")):
            d = Document.from_dict(row)
        check(d.id not in docs, path, f"document id {d.id!r} appears twice (line {no})")
        docs[d.id] = d
    if expected is not None:
        check(len(docs) == expected, path, f"{len(docs)} documents, params.json says {expected}")
    return docs


def read_passages(path: Path, expected: int | None) -> list[Passage]:
    out = []
    for no, row in _read_jsonl(path):
        with reading(Path(f"{path}:{no}")):
            out.append(Passage.from_dict(row))
    if expected is not None:
        check(len(out) == expected, path, f"{len(out)} passages, params.json says {expected}")
    return out


def _sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def file_digests(root: Path) -> dict[str, dict[str, Any]]:
    """Size and sha1 of every file under `root` but params.json itself, by relative POSIX path."""
    return {
        p.relative_to(root).as_posix(): {"bytes": p.stat().st_size, "sha1": _sha1(p)}
        for p in sorted(root.rglob("*"))
        if p.is_file() and p != root / "params.json"
    }


def verify_digests(root: Path, files: Mapping[str, Any] | None) -> None:
    """Check sizes (cheap: catches truncation) then sha1s against params.json; None: nothing recorded."""
    if files is None:
        return
    pf = root / "params.json"
    check(
        isinstance(files, Mapping) and all(isinstance(v, Mapping) for v in files.values()),
        pf,
        "`files` must map paths to {bytes, sha1}",
    )
    for rel, want in files.items():
        p = root / rel
        check(p.is_file(), p, "missing")
        size = p.stat().st_size
        check(size == want.get("bytes"), p, f"{size} bytes, params.json recorded {want.get('bytes')} (truncated?)")
    for rel, want in files.items():
        check(_sha1(root / rel) == want.get("sha1"), root / rel, "content differs from the sha1 in params.json")


def check_rows(
    root: Path,
    passages: list[Passage],
    docs: Mapping[str, Document],
    alive: np.ndarray,
    n_live: int | None,
    dense_shape: tuple[int, ...] | None,
    dim: int | None,
) -> None:
    """Row i of passages.jsonl, of the BM25 side and of the dense side is one passage; live ones have a document."""
    pp, af, vf = root / "passages.jsonl", root / "bm25" / "alive.npy", root / "dense" / "vectors.npy"
    check(len(alive) == len(passages), af, f"{len(alive)} BM25 rows, {pp} has {len(passages)} passages")
    if n_live is not None:
        check(int(alive.sum()) == n_live, af, f"{int(alive.sum())} live rows, params.json says {n_live}")
    if dense_shape is not None:
        check(dense_shape[0] == len(passages), vf, f"{dense_shape[0]} vectors, {pp} has {len(passages)} passages")
        check(dim is None or dense_shape[1] == dim, vf, f"vectors of dim {dense_shape[1]}, the encoder's is {dim}")
    for p, live in zip(passages, alive.tolist(), strict=True):
        if live and p.doc_id not in docs:
            check(
                False,
                root / "documents.jsonl",
                f"no document {p.doc_id!r}, which live passage {p.id!r} of {pp} belongs to",
            )
    # A law saved before its articles were kept apart: its passages mix articles and name none of them.
    # (A policy saved then is fine: its passages' source is the document, the default.)
    for d in docs.values():
        check(
            not ("law_id" in d.metadata and "source_spans" not in d.metadata),
            root / "documents.jsonl",
            f"law {d.id!r} was saved without its article spans (an index from before articles were kept)",
        )


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_versioned(path: Path, write_parts: Callable[[Path], None], params: dict[str, Any]) -> None:
    """Write an index directory atomically, with params.json recording every part's size and sha1.

    `path` is a symlink to a versioned directory beside it; the new version is written in
    full first and the link is swapped with one rename, so a crash at any point leaves the
    previous index in place.
    """
    versions = path.parent / f".{path.name}.versions"
    versions.mkdir(parents=True, exist_ok=True)
    target = versions / f"v{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    tmp = versions / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        write_parts(tmp)
        params = {**params, "files": file_digests(tmp)}
        (tmp / "params.json").write_text(json.dumps(params, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists() and not path.is_symlink():
        # A plain directory from elsewhere: move it aside so the link can take its place.
        path.rename(versions / f"legacy-{uuid.uuid4().hex[:8]}")
    link_tmp = path.parent / f".{path.name}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(target, path.parent), link_tmp)
    os.replace(link_tmp, path)
    _prune_versions(versions, keep={target.name})


def _prune_versions(versions: Path, keep: set[str], n_keep: int = 2) -> None:
    """Keep the newest few versions (a reader may still hold the previous one open)."""
    entries = sorted(
        (p for p in versions.iterdir() if not p.name.startswith(".tmp-")), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for p in entries[n_keep:]:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
