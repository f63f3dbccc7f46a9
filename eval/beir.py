"""Load evaluation sets in BEIR format: queries.jsonl, qrels.tsv and a corpus.

A query set is plain data: `Query` objects in file order and qrels as
`{query_id: {doc_id: relevance}}`. Malformed files raise `BeirFormatError`
naming the file, the line and what was expected.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpus.models import Document

log = logging.getLogger(__name__)

Qrels = dict[str, dict[str, int]]

QRELS_HEADER = ("query-id", "corpus-id", "score")
# Named sets under <repo>/../shared/data: (queries, qrels, corpus) relative paths.
DATASETS: dict[str, tuple[str, str, str]] = {
    "ncp-dev": ("eval/ncp-dev/queries.jsonl", "eval/ncp-dev/qrels.tsv", "corpus/policies.jsonl"),
    "resident-qa-dev": (
        "eval/resident-qa-dev/queries.jsonl",
        "eval/resident-qa-dev/qrels.tsv",
        "corpus/policies.jsonl",
    ),
    # qrels name law *article* ids (`_id` of law_articles.jsonl): judged at article level.
    "stard-dev": ("eval/stard-dev/queries.jsonl", "eval/stard-dev/qrels.tsv", "corpus/law_articles.jsonl"),
}


class BeirFormatError(ValueError):
    """A BEIR file that cannot be read; the message says where and why."""

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Query:
    """One evaluation question. `answer` is the gold span when the set has one."""

    id: str
    text: str
    answer: str | None = None
    style: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class BeirSet:
    """Queries (in file order) and their judgments; `corpus_path` is what the index is built from."""

    queries: dict[str, Query]
    qrels: Qrels
    corpus_path: Path | None = None
    name: str = ""

    def judged_ids(self) -> list[str]:
        """Queries with at least one relevant document, in query-file order."""
        return [qid for qid in self.queries if has_relevant(self.qrels.get(qid))]

    def limit(self, n: int) -> BeirSet:
        """The first `n` queries (file order) and their qrels."""
        if n < 1:
            raise ValueError(f"limit must be >= 1, got {n}")
        ids = list(self.queries)[:n]
        return BeirSet(
            queries={q: self.queries[q] for q in ids},
            qrels={q: dict(self.qrels[q]) for q in ids if q in self.qrels},
            corpus_path=self.corpus_path,
            name=self.name,
        )


def has_relevant(judgments: dict[str, int] | None) -> bool:
    return bool(judgments) and any(r > 0 for r in judgments.values())  # type: ignore[union-attr]


def load_queries(path: str | Path) -> dict[str, Query]:
    """Read queries.jsonl: one object per line with `_id` and `text`; other keys are kept."""
    path = Path(path)
    if not path.is_file():
        raise BeirFormatError(path, None, "queries file not found")
    queries: dict[str, Query] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BeirFormatError(path, n, f"invalid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise BeirFormatError(path, n, f"expected a JSON object, got {type(obj).__name__}")
            qid, text = obj.get("_id"), obj.get("text")
            if not isinstance(qid, str) or not qid.strip():
                raise BeirFormatError(path, n, "missing or empty '_id' (a non-empty string is required)")
            if not isinstance(text, str) or not text.strip():
                raise BeirFormatError(path, n, f"query {qid!r} has missing or empty 'text'")
            if qid in queries:
                raise BeirFormatError(path, n, f"duplicate query id {qid!r}")
            answer = obj.get("answer")
            if answer is not None and not isinstance(answer, str):
                raise BeirFormatError(path, n, f"query {qid!r}: 'answer' must be a string or absent")
            style = obj.get("style")
            rest = {k: v for k, v in obj.items() if k not in ("_id", "text", "answer", "style")}
            queries[qid] = Query(
                id=qid,
                text=text.strip(),
                answer=answer if answer and answer.strip() else None,
                style=style if isinstance(style, str) else None,
                metadata=rest,
            )
    if not queries:
        raise BeirFormatError(path, None, "no queries found")
    return queries


def load_qrels(path: str | Path) -> Qrels:
    """Read qrels.tsv (`query-id<TAB>corpus-id<TAB>score`, header optional).

    A repeated (query, doc) pair with a different score is an error: which one
    is meant cannot be guessed.
    """
    path = Path(path)
    if not path.is_file():
        raise BeirFormatError(path, None, "qrels file not found")
    qrels: Qrels = {}
    with path.open(encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            cols = line.split("\t")
            if n == 1 and tuple(c.strip().lower() for c in cols) == QRELS_HEADER:
                continue
            if len(cols) != 3:
                raise BeirFormatError(
                    path, n, f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}"
                )
            qid, did, score_s = (c.strip() for c in cols)
            if not qid or not did:
                raise BeirFormatError(path, n, "empty query-id or corpus-id")
            try:
                score = int(score_s)
            except ValueError:
                raise BeirFormatError(path, n, f"score must be an integer, got {score_s!r}") from None
            prev = qrels.setdefault(qid, {}).get(did)
            if prev is not None and prev != score:
                raise BeirFormatError(path, n, f"conflicting scores {prev} and {score} for ({qid}, {did})")
            qrels[qid][did] = score
    if not qrels:
        raise BeirFormatError(path, None, "no judgments found")
    return qrels


def load_set(
    queries_path: str | Path,
    qrels_path: str | Path,
    corpus_path: str | Path | None = None,
    name: str = "",
) -> BeirSet:
    """Queries and qrels together; judgments for unknown query ids are dropped with a warning."""
    queries = load_queries(queries_path)
    qrels = load_qrels(qrels_path)
    unknown = [q for q in qrels if q not in queries]
    if unknown:
        log.warning("%d qrels query ids are not in %s (e.g. %s); ignored", len(unknown), queries_path, unknown[0])
        qrels = {q: j for q, j in qrels.items() if q in queries}
    if corpus_path is not None and not Path(corpus_path).exists():
        raise BeirFormatError(corpus_path, None, "corpus not found")
    return BeirSet(
        queries=queries,
        qrels=qrels,
        corpus_path=Path(corpus_path) if corpus_path is not None else None,
        name=name or Path(queries_path).parent.name,
    )


def dataset_paths(name: str, shared_data: str | Path) -> tuple[Path, Path, Path]:
    """(queries, qrels, corpus) of a named set under the shared data folder."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    root = Path(shared_data)
    q, r, c = DATASETS[name]
    return root / q, root / r, root / c


def load_corpus(path: str | Path) -> Iterator[Document]:
    """Documents of a corpus: delegated to the project's loader, which reads BEIR corpus.jsonl too."""
    from corpus.loaders import load_corpus as _load

    return _load(path)
