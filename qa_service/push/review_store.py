"""The review tables of the push store (先审后发): decisions per document version and label corrections.

`PushStore` mixes this in; every write is one transaction on the store's engine. A waiting
review owns the `held` outbox rows of its version: approving turns them `pending` (delivery
sends them once, with their usual keys), dropping deletes them, correcting the labels replaces
them. Corrections are kept as push-dev `doc_labels.jsonl` rows. The tables: `qa_service.push.schema`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from corpus.push.targeting import Targeting
from qa_service.push.records import OutboxEntry, Review, review_from_row


class ReviewTables:
    """Review SQL of `qa_service.push.store.PushStore` (which provides `_tx`, `_read` and `_insert`)."""

    if TYPE_CHECKING:

        def _tx(self) -> AbstractContextManager[Connection]: ...
        def _read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Mapping[str, Any]]: ...
        def _insert(self, db: Connection, entries: Iterable[OutboxEntry], now: float, status: str = ...) -> int: ...

    # -- reading --------------------------------------------------------------------------------
    def review(self, doc_id: str, version: str | None = None) -> Review | None:
        """The review of `version`, or without one the newest waiting (else newest) review of the document."""
        if version is not None:
            rows = self._read(
                "SELECT * FROM push_reviews WHERE doc_id = :d AND version = :v", {"d": doc_id, "v": version}
            )
        else:
            rows = self._read(
                "SELECT * FROM push_reviews WHERE doc_id = :d"
                " ORDER BY CASE WHEN status = 'waiting' THEN 0 ELSE 1 END, created DESC LIMIT 1",
                {"d": doc_id},
            )
        return review_from_row(rows[0]) if rows else None

    def reviews(self, status: str | None = "waiting", limit: int = 1_000_000) -> list[Review]:
        """Reviews in one status (None: all), oldest first: the queue in the order it filled."""
        where = "WHERE status = :s" if status else ""
        rows = self._read(
            f"SELECT * FROM push_reviews {where} ORDER BY created, doc_id LIMIT :n", {"s": status, "n": limit}
        )
        return [review_from_row(r) for r in rows]

    def held_profiles(self, doc_id: str, version: str) -> list[Mapping[str, Any]]:
        """Who the held rows of a version would reach: profile id, kind, area and match score only, never
        contact details; the best-matching first (descriptions closest to the document), then by id."""
        return self._read(
            "SELECT p.id, p.kind, p.province, p.city, p.district, MAX(o.score) AS score FROM outbox o"
            " JOIN profiles p ON p.id = o.profile_id"
            " WHERE o.doc_id = :d AND o.doc_version = :v AND o.status = 'held'"
            " GROUP BY p.id, p.kind, p.province, p.city, p.district"
            " ORDER BY CASE WHEN MAX(o.score) IS NULL THEN 1 ELSE 0 END, MAX(o.score) DESC, p.id",
            {"d": doc_id, "v": version},
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
                text(
                    "UPDATE outbox SET status = 'pending', updated = :now WHERE doc_id = :d AND doc_version = :v"
                    " AND status = 'held'"
                ),
                {"now": now, "d": doc_id, "v": version},
            ).rowcount

    def drop_review(self, doc_id: str, version: str) -> int | None:
        """Delete the held rows (nothing is sent); None when the version has no waiting review."""
        now = time.time()
        with self._tx() as db:
            if not self._decide(db, doc_id, version, "dropped", now):
                return None
            return db.execute(
                text("DELETE FROM outbox WHERE doc_id = :d AND doc_version = :v AND status = 'held'"),
                {"d": doc_id, "v": version},
            ).rowcount

    def correct_review(
        self, doc_id: str, version: str, targeting: Targeting, entries: Iterable[OutboxEntry], labels_row: dict
    ) -> int | None:
        """Replace a waiting review's labels and held rows, and keep the correction; returns rows now held."""
        now = time.time()
        entries = list(entries)
        with self._tx() as db:
            cur = db.execute(
                text(
                    "UPDATE push_reviews SET labels = :l, reach = :n, corrected = 1 WHERE doc_id = :d AND version = :v"
                    " AND status = 'waiting'"
                ),
                {
                    "l": json.dumps(targeting.to_dict(), ensure_ascii=False),
                    "n": len(entries),
                    "d": doc_id,
                    "v": version,
                },
            )
            if cur.rowcount == 0:
                return None
            db.execute(
                text("DELETE FROM outbox WHERE doc_id = :d AND doc_version = :v AND status = 'held'"),
                {"d": doc_id, "v": version},
            )
            held = self._insert(db, entries, now, "held")
            db.execute(
                text(
                    "INSERT INTO push_label_corrections (doc_id, version, labels, corrected) VALUES (:d, :v, :l, :now)"
                ),
                {"d": doc_id, "v": version, "l": json.dumps(labels_row, ensure_ascii=False), "now": now},
            )
        return held

    # -- inside the store's transactions ---------------------------------------------------------
    @staticmethod
    def _decide(db: Connection, doc_id: str, version: str, status: str, now: float) -> bool:
        cur = db.execute(
            text(
                "UPDATE push_reviews SET status = :s, decided = :now WHERE doc_id = :d AND version = :v"
                " AND status = 'waiting'"
            ),
            {"s": status, "now": now, "d": doc_id, "v": version},
        )
        return cur.rowcount > 0

    @staticmethod
    def _open_review(db: Connection, review: Review, now: float) -> None:
        """A new waiting review; one already there (re-planning, back-fill) is left as it is."""
        db.execute(
            text(
                "INSERT INTO push_reviews (doc_id, version, labels, reasons, reach, created)"
                " VALUES (:d, :v, :l, :r, :n, :now) ON CONFLICT DO NOTHING"
            ),
            {
                "d": review.doc_id,
                "v": review.version,
                "l": json.dumps(review.targeting.to_dict(), ensure_ascii=False),
                "r": json.dumps(list(review.reasons), ensure_ascii=False),
                "n": review.reach,
                "now": now,
            },
        )

    @staticmethod
    def _supersede(db: Connection, doc_id: str, version: str, now: float) -> None:
        """A newer text was planned: waiting reviews of the document's other versions close, unsent."""
        db.execute(
            text(
                "UPDATE push_reviews SET status = 'superseded', decided = :now WHERE doc_id = :d AND version != :v"
                " AND status = 'waiting'"
            ),
            {"now": now, "d": doc_id, "v": version},
        )
        db.execute(
            text("DELETE FROM outbox WHERE doc_id = :d AND doc_version != :v AND status = 'held'"),
            {"d": doc_id, "v": version},
        )
