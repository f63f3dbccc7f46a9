"""The review tables of the push store (先审后发): decisions per document version and label corrections.

`PushStore` mixes this in; every write is one transaction on the store's connection. A
waiting review owns the `held` outbox rows of its version: approving turns them `pending`
(delivery sends them once, with their usual keys), dropping deletes them, correcting the
labels replaces them. Corrections are kept as push-dev `doc_labels.jsonl` rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from corpus.push.targeting import Targeting
from qa_service.push.records import OutboxEntry, Review, review_from_row

REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS push_reviews (
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    labels TEXT NOT NULL,
    reasons TEXT NOT NULL,
    reach INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'approved', 'dropped', 'superseded')),
    corrected INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    decided REAL,
    PRIMARY KEY (doc_id, version)
);
CREATE INDEX IF NOT EXISTS push_reviews_by_status ON push_reviews (status, created);
CREATE TABLE IF NOT EXISTS push_label_corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    version TEXT NOT NULL,
    labels TEXT NOT NULL,
    corrected REAL NOT NULL
);
"""


class ReviewTables:
    """Review SQL of `qa_service.push.store.PushStore` (which provides `_tx`, `_read` and `_insert`)."""

    if TYPE_CHECKING:

        def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...
        def _read(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]: ...
        @staticmethod
        def _insert(db: sqlite3.Connection, entries: Iterable[OutboxEntry], now: float, status: str = ...) -> int: ...

    # -- reading --------------------------------------------------------------------------------
    def review(self, doc_id: str, version: str | None = None) -> Review | None:
        """The review of `version`, or without one the newest waiting (else newest) review of the document."""
        if version is not None:
            rows = self._read("SELECT * FROM push_reviews WHERE doc_id = ? AND version = ?", (doc_id, version))
        else:
            rows = self._read(
                "SELECT * FROM push_reviews WHERE doc_id = ? ORDER BY status = 'waiting' DESC, created DESC LIMIT 1",
                (doc_id,),
            )
        return review_from_row(rows[0]) if rows else None

    def reviews(self, status: str | None = "waiting", limit: int = 1_000_000) -> list[Review]:
        """Reviews in one status (None: all), oldest first: the queue in the order it filled."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        rows = self._read(f"SELECT * FROM push_reviews {where} ORDER BY created, doc_id LIMIT ?", (*params, limit))
        return [review_from_row(r) for r in rows]

    def held_profiles(self, doc_id: str, version: str) -> list[sqlite3.Row]:
        """Who the held rows of a version would reach: profile id, kind and area only, never contact details."""
        return self._read(
            "SELECT p.id, p.kind, p.province, p.city, p.district FROM outbox o JOIN profiles p ON p.id = o.profile_id"
            " WHERE o.doc_id = ? AND o.doc_version = ? AND o.status = 'held' ORDER BY p.id",
            (doc_id, version),
        )

    def corrections(self) -> list[dict[str, Any]]:
        """Every label correction, oldest first, as stored (doc_labels.jsonl rows plus `corrected_at` seconds)."""
        rows = self._read("SELECT labels, corrected FROM push_label_corrections ORDER BY id")
        return [{**json.loads(r["labels"]), "corrected_at": r["corrected"]} for r in rows]

    # -- decisions --------------------------------------------------------------------------------
    def approve_review(self, doc_id: str, version: str) -> int | None:
        """Release the held rows to `pending`; None when the version has no waiting review."""
        now = time.time()
        with self._tx() as db:
            if not self._decide(db, doc_id, version, "approved", now):
                return None
            return db.execute(
                "UPDATE outbox SET status = 'pending', updated = ? WHERE doc_id = ? AND doc_version = ?"
                " AND status = 'held'",
                (now, doc_id, version),
            ).rowcount

    def drop_review(self, doc_id: str, version: str) -> int | None:
        """Delete the held rows (nothing is sent); None when the version has no waiting review."""
        now = time.time()
        with self._tx() as db:
            if not self._decide(db, doc_id, version, "dropped", now):
                return None
            return db.execute(
                "DELETE FROM outbox WHERE doc_id = ? AND doc_version = ? AND status = 'held'", (doc_id, version)
            ).rowcount

    def correct_review(
        self, doc_id: str, version: str, targeting: Targeting, entries: Iterable[OutboxEntry], labels_row: dict
    ) -> int | None:
        """Replace a waiting review's labels and held rows, and keep the correction; returns rows now held."""
        now = time.time()
        entries = list(entries)
        with self._tx() as db:
            cur = db.execute(
                "UPDATE push_reviews SET labels = ?, reach = ?, corrected = 1 WHERE doc_id = ? AND version = ?"
                " AND status = 'waiting'",
                (json.dumps(targeting.to_dict(), ensure_ascii=False), len(entries), doc_id, version),
            )
            if cur.rowcount == 0:
                return None
            db.execute("DELETE FROM outbox WHERE doc_id = ? AND doc_version = ? AND status = 'held'", (doc_id, version))
            held = self._insert(db, entries, now, "held")
            db.execute(
                "INSERT INTO push_label_corrections (doc_id, version, labels, corrected) VALUES (?,?,?,?)",
                (doc_id, version, json.dumps(labels_row, ensure_ascii=False), now),
            )
        return held

    # -- inside the store's transactions ---------------------------------------------------------
    @staticmethod
    def _decide(db: sqlite3.Connection, doc_id: str, version: str, status: str, now: float) -> bool:
        cur = db.execute(
            "UPDATE push_reviews SET status = ?, decided = ? WHERE doc_id = ? AND version = ? AND status = 'waiting'",
            (status, now, doc_id, version),
        )
        return cur.rowcount > 0

    @staticmethod
    def _open_review(db: sqlite3.Connection, review: Review, now: float) -> None:
        """A new waiting review; one already there (re-planning, back-fill) is left as it is."""
        db.execute(
            "INSERT OR IGNORE INTO push_reviews (doc_id, version, labels, reasons, reach, created)"
            " VALUES (?,?,?,?,?,?)",
            (
                review.doc_id,
                review.version,
                json.dumps(review.targeting.to_dict(), ensure_ascii=False),
                json.dumps(list(review.reasons), ensure_ascii=False),
                review.reach,
                now,
            ),
        )

    @staticmethod
    def _supersede(db: sqlite3.Connection, doc_id: str, version: str, now: float) -> None:
        """A newer text was planned: waiting reviews of the document's other versions close, unsent."""
        db.execute(
            "UPDATE push_reviews SET status = 'superseded', decided = ? WHERE doc_id = ? AND version != ?"
            " AND status = 'waiting'",
            (now, doc_id, version),
        )
        db.execute("DELETE FROM outbox WHERE doc_id = ? AND doc_version != ? AND status = 'held'", (doc_id, version))
