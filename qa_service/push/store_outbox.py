"""The documents to plan and the outbox of the push store: planning's bulk inserts, operators' counts,
dead-letter requeue.

The outbox key (profile, document, version, channel) is UNIQUE and every insert is ON CONFLICT DO
NOTHING, which makes planning idempotent: a plan interrupted anywhere and run again adds each row
once. A document's rows are inserted in the order given (best-matching first), so their ids, which
delivery claims in order, follow the ranking.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from qa_service.push.records import STATUS_COUNTS, Failure, OutboxEntry, Review, outbox_key
from qa_service.push.review_store import ReviewTables
from qa_service.push.store_base import Row, StoreBase

BATCH = 5000  # rows per executemany batch when planning a document for many profiles
_COPY_MIN = 500  # PostgreSQL batches at least this large go through COPY
_INSERT_OUTBOX = text(
    "INSERT INTO outbox (key, profile_id, doc_id, doc_version, channel, revised, title, doc_number, link, reason,"
    " evidence, score, status, created, updated) VALUES (:key, :profile_id, :doc_id, :doc_version, :channel, :revised,"
    " :title, :doc_number, :link, :reason, :evidence, :score, :status, :now, :now) ON CONFLICT DO NOTHING"
)
_LOAD_COLUMNS = (
    "key, profile_id, doc_id, doc_version, channel, revised, title, doc_number, link, reason, evidence, score, status,"
    " created, updated"
)
_LOAD_KEYS = [c.strip() for c in _LOAD_COLUMNS.replace("created", "now").replace("updated", "now").split(",")]
_COUNTS = (
    "SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END) AS held,"
    " SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,"
    " SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent,"
    " SUM(CASE WHEN status = 'pending' AND attempts > 0 THEN 1 ELSE 0 END) AS failed,"
    " SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead"
)


class OutboxTables(StoreBase, ReviewTables):
    # -- documents to plan ------------------------------------------------------------------------
    def note_documents(self, versions: Iterable[tuple[str, str, bool]]) -> None:
        """Remember (doc_id, version, revised) as waiting to be planned; known versions are left alone."""
        now = time.time()
        rows = [{"d": d, "v": v, "r": int(r), "now": now} for d, v, r in versions]
        if not rows:
            return
        with self._tx() as db:
            db.execute(
                text(
                    "INSERT INTO push_documents (doc_id, version, revised, noted) VALUES (:d, :v, :r, :now)"
                    " ON CONFLICT DO NOTHING"
                ),
                rows,
            )

    def unplanned_documents(self) -> list[tuple[str, str]]:
        rows = self._read("SELECT doc_id, version FROM push_documents WHERE planned IS NULL ORDER BY noted, doc_id")
        return [(r["doc_id"], r["version"]) for r in rows]

    def is_planned(self, doc_id: str, version: str) -> bool:
        rows = self._read(
            "SELECT planned FROM push_documents WHERE doc_id = :d AND version = :v", {"d": doc_id, "v": version}
        )
        return bool(rows) and rows[0]["planned"] is not None

    def revision_noted(self, doc_id: str, version: str) -> bool:
        """True when this version was noted as a revision, or another version of the id was seen before."""
        rows = self._read("SELECT version, revised FROM push_documents WHERE doc_id = :d", {"d": doc_id})
        return any(r["version"] != version or r["revised"] for r in rows)

    def mark_planned(self, doc_id: str, version: str, enqueued: int = 0) -> None:
        with self._tx() as db:
            self._mark_planned(db, doc_id, version, enqueued, time.time())

    @staticmethod
    def _mark_planned(db: Connection, doc_id: str, version: str, enqueued: int, now: float) -> None:
        db.execute(
            text(
                "INSERT INTO push_documents (doc_id, version, noted, planned, enqueued) VALUES (:d, :v, :now, :now, :n)"
                " ON CONFLICT (doc_id, version) DO UPDATE SET planned = excluded.planned,"
                " enqueued = COALESCE(push_documents.enqueued, 0) + excluded.enqueued"
            ),
            {"d": doc_id, "v": version, "now": now, "n": enqueued},
        )

    # -- planning's inserts -----------------------------------------------------------------------------
    def enqueue(self, doc_id: str, version: str, entries: Iterable[OutboxEntry], hold: Review | None = None) -> int:
        """Insert the rows of one planned document and mark it planned, atomically; returns rows added.

        One row per profile and channel of its subscription, inserted in batches (executemany, or COPY
        on PostgreSQL); ON CONFLICT DO NOTHING on the UNIQUE (profile, document, version, channel):
        planning the same version again adds nothing, whatever state the earlier rows are in. With
        `hold` the rows are `held` and the review is opened in the same transaction (see `ReviewTables`);
        either way, waiting reviews of the document's other versions are superseded.
        """
        now = time.time()
        with self._tx() as db:
            self._supersede(db, doc_id, version, now)
            if hold is not None:
                self._open_review(db, hold, now)
            added = self._insert(db, entries, now, "held" if hold is not None else "pending")
            self._mark_planned(db, doc_id, version, added, now)
        return added

    def enqueue_backfill(
        self, entries: Iterable[OutboxEntry], held: Iterable[OutboxEntry] = (), reviews: Iterable[Review] = ()
    ) -> int:
        """Insert rows for one new or changed subscriber, leaving documents' planning state alone.

        `held` rows wait for their document's review; `reviews` are opened for documents that had none.
        """
        now = time.time()
        with self._tx() as db:
            for r in reviews:
                self._open_review(db, r, now)
            return self._insert(db, entries, now) + self._insert(db, held, now, "held")

    def _insert(self, db: Connection, entries: Iterable[OutboxEntry], now: float, status: str = "pending") -> int:
        """Expand entries into one row per channel of their (existing) profile and insert them in batches."""
        added = 0
        batch: list[OutboxEntry] = []
        for e in entries:
            batch.append(e)
            if len(batch) >= BATCH:
                added += self._insert_batch(db, batch, now, status)
                batch = []
        if batch:
            added += self._insert_batch(db, batch, now, status)
        return added

    def _insert_batch(self, db: Connection, batch: Sequence[OutboxEntry], now: float, status: str) -> int:
        ids = sorted({e.profile_id for e in batch})
        query = text(f"SELECT id, channels FROM profiles WHERE id IN :ids{self._share}").bindparams(
            bindparam("ids", expanding=True)
        )
        channels = {r[0]: json.loads(r[1]) for r in db.execute(query, {"ids": ids})}
        rows = []
        for e in batch:
            evidence = json.dumps(list(e.evidence), ensure_ascii=False)
            for ch in channels.get(e.profile_id, ()):  # a profile deleted meanwhile gets nothing
                if self.channels is not None and ch not in self.channels:
                    continue
                rows.append({
                    "key": outbox_key(e.profile_id, e.doc_id, e.doc_version, ch), "profile_id": e.profile_id,
                    "doc_id": e.doc_id, "doc_version": e.doc_version, "channel": ch, "revised": int(e.revised),
                    "title": e.title, "doc_number": e.doc_number, "link": e.link, "reason": e.reason,
                    "evidence": evidence, "score": e.score, "status": status, "now": now,
                })  # fmt: skip
        if not rows:
            return 0
        if not self.sqlite and len(rows) >= _COPY_MIN:
            return self._copy_rows(db, rows)
        return max(db.execute(_INSERT_OUTBOX, rows).rowcount, 0)

    @staticmethod
    def _copy_rows(db: Connection, rows: list[dict[str, Any]]) -> int:
        """PostgreSQL: COPY the batch into a temporary table, then one INSERT … SELECT … ON CONFLICT DO NOTHING
        (several times faster than row inserts when a document reaches many profiles)."""
        cur = db.connection.driver_connection.cursor()  # psycopg 3, inside this transaction
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS outbox_load (n serial, key text, profile_id text, doc_id text,"
            " doc_version text, channel text, revised integer, title text, doc_number text, link text, reason text,"
            " evidence text, score double precision, status text, created double precision, updated double precision)"
            " ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY outbox_load ({_LOAD_COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in _LOAD_KEYS])
        # In the order given (the ranking), so ids follow it; a deterministic order also keeps two planners
        # of one document taking the unique index's locks in the same order.
        cur.execute(
            f"INSERT INTO outbox ({_LOAD_COLUMNS}) SELECT {_LOAD_COLUMNS} FROM outbox_load ORDER BY n"
            " ON CONFLICT DO NOTHING"
        )
        added = cur.rowcount
        cur.execute("TRUNCATE outbox_load")
        return max(added, 0)

    # -- operators -----------------------------------------------------------------------------------------
    def requeue_dead(self, doc_id: str | None = None, channel: str | None = None) -> int:
        """Give dead-lettered rows (of one document and/or channel) a fresh set of attempts."""
        where, params = ["status = 'dead'"], {"now": time.time()}
        if doc_id is not None:
            where.append("doc_id = :d")
            params["d"] = doc_id
        if channel is not None:
            where.append("channel = :c")
            params["c"] = channel
        with self._tx() as db:
            sql = (
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = 0, lease_owner = NULL,"
                f" lease_until = NULL, updated = :now WHERE {' AND '.join(where)}"
            )
            return db.execute(text(sql), params).rowcount

    def requeue_failed(self) -> int:
        """Every dead-lettered row back to pending (after a gateway outage is fixed)."""
        return self.requeue_dead()

    _COUNTS = _COUNTS

    def status_counts(self) -> dict[str, int]:
        """Rows per status, and `failed`: pending rows whose last attempt failed (to be retried)."""
        [r] = self._read(f"SELECT {_COUNTS} FROM outbox")
        return {k: int(r[k] or 0) for k in STATUS_COUNTS}

    def status_by_document(self, doc_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Per document and channel: held, pending, sent, failed (retrying), dead; newest documents first."""
        where, params = ("WHERE doc_id = :d", {"d": doc_id}) if doc_id else ("", {})
        rows = self._read(
            f"SELECT doc_id, channel, {_COUNTS}, MAX(created) AS planned FROM outbox {where}"
            f" GROUP BY doc_id, channel ORDER BY planned DESC, doc_id, channel LIMIT :n",
            {**params, "n": limit},
        )
        return [{"doc_id": r["doc_id"], "channel": r["channel"], **{k: int(r[k] or 0) for k in STATUS_COUNTS}}
                for r in rows]  # fmt: skip

    def failures(self, limit: int = 50) -> list[Failure]:
        """Dead-lettered rows, newest first."""
        rows = self._read(
            "SELECT key, profile_id, doc_id, channel, attempts, last_error, updated FROM outbox"
            " WHERE status = 'dead' ORDER BY updated DESC, id DESC LIMIT :n",
            {"n": limit},
        )
        return [
            Failure(r["key"], r["profile_id"], r["doc_id"], r["attempts"], r["last_error"], r["updated"], r["channel"])
            for r in rows
        ]

    def outbox_rows(self) -> list[Row]:
        """Every outbox row (tests and operators' inspection)."""
        return self._read("SELECT * FROM outbox ORDER BY id")
