"""SQLite storage for answers given, feedback on them, and the curated FAQ.

Questions, queries, comments and FAQ questions are stored with personal details masked
(FAQ answers are published text, office phone numbers included, and kept as written).
Answers older than `retention_days` are deleted with their feedback when the store
opens, whenever an answer is added and before every export; `secure_delete` overwrites
what is deleted. The file and its -wal/-shm are mode 0600. One connection guarded by a
lock: writes are tiny and rare next to retrieval, so this is not a bottleneck.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qa_service.privacy import mask_personal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    conversation_id TEXT,
    question TEXT NOT NULL,
    query TEXT NOT NULL,
    abstained INTEGER NOT NULL,
    confidence REAL NOT NULL,
    source TEXT NOT NULL,
    cited_doc_ids TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_created ON answers (created);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    answer_id TEXT NOT NULL REFERENCES answers(id),
    created REAL NOT NULL,
    useful INTEGER NOT NULL,
    comment TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_answer ON feedback (answer_id);
CREATE TABLE IF NOT EXISTS faq (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL UNIQUE,
    answer TEXT NOT NULL,
    doc_id TEXT,
    updated REAL NOT NULL
);
"""


@dataclass(frozen=True)
class AnswerRecord:
    id: str
    conversation_id: str | None
    question: str
    query: str
    abstained: bool
    confidence: float
    source: str
    cited_doc_ids: tuple[str, ...]


@dataclass(frozen=True)
class FaqEntry:
    id: int
    question: str
    answer: str
    doc_id: str | None


DAY_SECONDS = 86_400.0
MAX_RETENTION_DAYS = 36_500


class StoreError(RuntimeError):
    """A database file the service cannot use; the message names the file and what to do."""


def open_sqlite(path: str | Path, **kwargs: object) -> sqlite3.Connection:
    """Connect and read the schema once, so a damaged file is refused at start-up, naming it.

    The file is never deleted or rewritten here: answers, feedback and profiles are not ours to drop.
    """
    db = sqlite3.connect(str(path), check_same_thread=False, **kwargs)  # type: ignore[arg-type]
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise StoreError(
            f"{path} is not a usable SQLite database ({exc}); move it aside or restore it from a backup, "
            "then start again"
        ) from None
    return db


def make_private(path: Path) -> None:
    """Create `path` (if missing) readable by its owner only, and tighten it and its -wal/-shm.

    SQLite creates the -wal and -shm files with the mode of the database file, so creating
    the database 0600 before SQLite opens it keeps all three private whatever the umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            os.chmod(p, 0o600)


class Store:
    def __init__(self, path: str | Path, retention_days: int = 180, clock: Callable[[], float] = time.time) -> None:
        if not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention_days must be 1..{MAX_RETENTION_DAYS}, got {retention_days}")
        self.retention_seconds = retention_days * DAY_SECONDS
        self._clock = clock
        memory = str(path) == ":memory:"
        if not memory:
            make_private(Path(path))
        self._lock = threading.Lock()
        self._db = open_sqlite(path)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")  # purged questions do not linger in free pages
            if not memory:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(feedback)")}
            if "reason" not in columns:  # a database from before feedback had a reason
                self._db.execute("ALTER TABLE feedback ADD COLUMN reason TEXT")
            self._purge()
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- answers & feedback ------------------------------------------------
    def _purge(self) -> int:
        """Delete answers past retention and their feedback (caller holds the lock and commits)."""
        cutoff = self._clock() - self.retention_seconds
        self._db.execute(
            "DELETE FROM feedback WHERE answer_id IN (SELECT id FROM answers WHERE created < ?)", (cutoff,)
        )
        return self._db.execute("DELETE FROM answers WHERE created < ?", (cutoff,)).rowcount

    def purge(self) -> int:
        """Delete what is past retention now; returns how many answers went."""
        with self._lock:
            n = self._purge()
            self._db.commit()
            return n

    def record_answer(self, rec: AnswerRecord) -> None:
        with self._lock:
            self._purge()
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    rec.id,
                    self._clock(),
                    rec.conversation_id,
                    mask_personal(rec.question),
                    mask_personal(rec.query),
                    int(rec.abstained),
                    rec.confidence,
                    rec.source,
                    json.dumps(list(rec.cited_doc_ids)),
                ),
            )
            self._db.commit()

    def get_answer(self, answer_id: str) -> AnswerRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if row is None:
            return None
        return AnswerRecord(
            id=row["id"],
            conversation_id=row["conversation_id"],
            question=row["question"],
            query=row["query"],
            abstained=bool(row["abstained"]),
            confidence=row["confidence"],
            source=row["source"],
            cited_doc_ids=tuple(json.loads(row["cited_doc_ids"])),
        )

    def add_feedback(self, answer_id: str, useful: bool, comment: str | None, reason: str | None = None) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO feedback (answer_id, created, useful, comment, reason) VALUES (?,?,?,?,?)",
                (answer_id, self._clock(), int(useful), mask_personal(comment) if comment else None, reason),
            )
            self._db.commit()
            return int(cur.lastrowid or 0)

    def weak_answers(self, below: float, limit: int = 5000) -> list[dict]:
        """The newest answers that abstained or answered with confidence under `below` (FAQ hits excluded):
        the operators' to-do list. Questions are stored masked and masked again here."""
        with self._lock:
            self._purge()
            self._db.commit()
            rows = self._db.execute(
                "SELECT id, created, question, abstained, confidence, source, cited_doc_ids FROM answers"
                " WHERE source != 'faq' AND (abstained = 1 OR confidence < ?) ORDER BY created DESC LIMIT ?",
                (below, limit),
            ).fetchall()
        return [
            {
                "answer_id": r["id"],
                "created": r["created"],
                "question": mask_personal(r["question"]),
                "abstained": bool(r["abstained"]),
                "confidence": r["confidence"],
                "cited_doc_ids": json.loads(r["cited_doc_ids"]),
            }
            for r in rows
        ]

    def export_feedback(self, useful: bool | None = None, reason: str | None = None) -> Iterator[dict]:
        """One BEIR-like query per feedback: `qrels` marks cited documents 1 (useful) or 0.

        Optionally only useful (or not useful) feedback, or one reason. Text is masked again on the
        way out, so rows stored by an older, weaker mask leave clean.
        """
        where, args = [], []
        if useful is not None:
            where.append("f.useful = ?")
            args.append(int(useful))
        if reason is not None:
            where.append("f.reason = ?")
            args.append(reason)
        with self._lock:
            self._purge()
            self._db.commit()
            rows = self._db.execute(
                "SELECT f.id, f.created, f.useful, f.comment, f.reason, a.id AS answer_id, a.question, a.query,"
                " a.abstained, a.confidence, a.source, a.cited_doc_ids FROM feedback f"
                " JOIN answers a ON a.id = f.answer_id"
                + (" WHERE " + " AND ".join(where) if where else "")
                + " ORDER BY f.id",
                args,
            ).fetchall()
        for r in rows:
            cited = json.loads(r["cited_doc_ids"])
            yield {
                "_id": f"fb-{r['id']}",
                "text": mask_personal(r["question"]),
                "answer_id": r["answer_id"],
                "useful": bool(r["useful"]),
                "comment": mask_personal(r["comment"]) if r["comment"] else None,
                "reason": r["reason"],
                "abstained": bool(r["abstained"]),
                "confidence": r["confidence"],
                "source": r["source"],
                "cited_doc_ids": cited,
                "qrels": {d: int(bool(r["useful"])) for d in cited},
                "created": r["created"],
            }

    # -- FAQ ----------------------------------------------------------------
    def faq_entries(self) -> list[FaqEntry]:
        with self._lock:
            rows = self._db.execute("SELECT id, question, answer, doc_id FROM faq ORDER BY id").fetchall()
        return [FaqEntry(r["id"], r["question"], r["answer"], r["doc_id"]) for r in rows]

    def faq_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM faq").fetchone()[0])

    def get_faq(self, faq_id: int) -> FaqEntry | None:
        with self._lock:
            r = self._db.execute("SELECT id, question, answer, doc_id FROM faq WHERE id = ?", (faq_id,)).fetchone()
        return FaqEntry(r["id"], r["question"], r["answer"], r["doc_id"]) if r else None

    def upsert_faq(self, question: str, answer: str, doc_id: str | None, faq_id: int | None = None) -> FaqEntry:
        question = mask_personal(question)  # often copied from a resident's question; the answer is published text
        with self._lock:
            if faq_id is None:
                cur = self._db.execute(
                    "INSERT INTO faq (question, answer, doc_id, updated) VALUES (?,?,?,?)"
                    " ON CONFLICT(question) DO UPDATE SET answer=excluded.answer, doc_id=excluded.doc_id,"
                    " updated=excluded.updated",
                    (question, answer, doc_id, self._clock()),
                )
                row = self._db.execute("SELECT id FROM faq WHERE question = ?", (question,)).fetchone()
                faq_id = int(row["id"]) if row else int(cur.lastrowid or 0)
            else:
                try:
                    self._db.execute(
                        "UPDATE faq SET question=?, answer=?, doc_id=?, updated=? WHERE id=?",
                        (question, answer, doc_id, self._clock(), faq_id),
                    )
                except sqlite3.IntegrityError:
                    self._db.rollback()
                    raise ValueError(f"another FAQ entry already has the question {question!r}") from None
            self._db.commit()
        return FaqEntry(faq_id, question, answer, doc_id)

    def delete_faq(self, faq_id: int) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM faq WHERE id = ?", (faq_id,))
            self._db.commit()
            return cur.rowcount > 0
