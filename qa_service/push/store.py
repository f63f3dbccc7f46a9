"""SQLite storage for precise push: subscriber profiles, the documents to plan, the outbox, the in-app inbox.

Its own file beside the service's `qa.sqlite3` (`push.sqlite3`, mode 0600), because it holds
personal data (contact details, self-descriptions) that the Q&A data does not: it can be
backed up, erased or locked down on its own.

Every write is one `BEGIN IMMEDIATE … COMMIT` transaction, so a process killed at any point
leaves each row either fully written or not at all. The outbox key (profile, document,
version) is UNIQUE, which is what makes planning idempotent; the claim lease and the
per-row "sent" commit are what make delivery resumable (see `qa_service.push.delivery`).
The rows' dataclasses live in `qa_service.push.records`, the tables in `qa_service.push.schema`,
the review step's SQL in `qa_service.push.review_store`.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from corpus.push.profiles import Profile
from qa_service.push.records import (
    OUTBOX_STATUSES,
    Contact,
    Failure,
    InboxItem,
    OutboxEntry,
    PushMessage,
    Review,
    Subscriber,
    hash_token,
    inbox_item_from_row,
    mask_error,
    message_from_row,
    profile_values,
    subscriber_from_row,
)
from qa_service.push.review_store import ReviewTables
from qa_service.push.schema import create_schema
from qa_service.store import make_private, open_sqlite


class PushStore(ReviewTables):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        if not memory:
            make_private(Path(path))  # created 0600 before SQLite opens it, so its -wal and -shm are too
        self._lock = threading.Lock()
        # Autocommit mode: transactions are opened explicitly in `_tx`, never implicitly.
        self._db = open_sqlite(self.path, isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            if not memory:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL is safe in WAL mode against a killed process; on power loss the last commits go in
                # order, so at worst a "sent" mark is lost and that message is re-sent with the same key.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            create_schema(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # -- profiles ----------------------------------------------------------------
    def create_profile(self, profile: Profile, contact: Contact) -> str:
        """Stores the profile and returns its secret token; only the token's hash is kept."""
        token = "pt-" + secrets.token_urlsafe(32)
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO profiles (id, token_hash, kind, province, city, district, street, groups, topics,"
                " description, channel, address, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (profile.profile_id, hash_token(token), *profile_values(profile, contact), now, now),
            )
        return token

    def profile_by_token(self, token: str) -> Subscriber | None:
        rows = self._read("SELECT * FROM profiles WHERE token_hash = ?", (hash_token(token),))
        return subscriber_from_row(rows[0]) if rows else None

    def get_profile(self, profile_id: str) -> Subscriber | None:
        rows = self._read("SELECT * FROM profiles WHERE id = ?", (profile_id,))
        return subscriber_from_row(rows[0]) if rows else None

    def update_profile(self, profile: Profile, contact: Contact) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE profiles SET kind=?, province=?, city=?, district=?, street=?, groups=?, topics=?,"
                " description=?, channel=?, address=?, updated=? WHERE id=?",
                (*profile_values(profile, contact), time.time(), profile.profile_id),
            )
            return cur.rowcount > 0

    def delete_profile(self, profile_id: str) -> bool:
        """Erases the profile with its outbox rows and inbox (ON DELETE CASCADE), in one transaction."""
        with self._tx() as db:
            return db.execute("DELETE FROM profiles WHERE id = ?", (profile_id,)).rowcount > 0

    def profiles(self) -> list[Profile]:
        return [subscriber_from_row(r).profile for r in self._read("SELECT * FROM profiles ORDER BY id")]

    def count_profiles(self) -> int:
        return int(self._read("SELECT COUNT(*) FROM profiles")[0][0])

    # -- documents to plan ------------------------------------------------------------
    def note_documents(self, versions: Iterable[tuple[str, str, bool]]) -> None:
        """Remember (doc_id, version, revised) as waiting to be planned; known versions are left alone."""
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO push_documents (doc_id, version, revised, noted) VALUES (?,?,?,?)",
                [(d, v, int(r), now) for d, v, r in versions],
            )

    def unplanned_documents(self) -> list[tuple[str, str]]:
        rows = self._read("SELECT doc_id, version FROM push_documents WHERE planned IS NULL ORDER BY noted, doc_id")
        return [(r["doc_id"], r["version"]) for r in rows]

    def is_planned(self, doc_id: str, version: str) -> bool:
        rows = self._read("SELECT planned FROM push_documents WHERE doc_id = ? AND version = ?", (doc_id, version))
        return bool(rows) and rows[0]["planned"] is not None

    def revision_noted(self, doc_id: str, version: str) -> bool:
        """True when this version was noted as a revision, or another version of the id was seen before."""
        rows = self._read("SELECT version, revised FROM push_documents WHERE doc_id = ?", (doc_id,))
        return any(r["version"] != version or r["revised"] for r in rows)

    def mark_planned(self, doc_id: str, version: str, enqueued: int = 0) -> None:
        now = time.time()
        with self._tx() as db:
            self._mark_planned(db, doc_id, version, enqueued, now)

    @staticmethod
    def _mark_planned(db: sqlite3.Connection, doc_id: str, version: str, enqueued: int, now: float) -> None:
        db.execute(
            "INSERT INTO push_documents (doc_id, version, noted, planned, enqueued) VALUES (?,?,?,?,?)"
            " ON CONFLICT(doc_id, version) DO UPDATE SET planned = excluded.planned,"
            " enqueued = COALESCE(push_documents.enqueued, 0) + excluded.enqueued",
            (doc_id, version, now, now, enqueued),
        )

    # -- outbox -------------------------------------------------------------------------
    def enqueue(self, doc_id: str, version: str, entries: Iterable[OutboxEntry], hold: Review | None = None) -> int:
        """Insert the rows of one planned document and mark it planned, atomically; returns rows added.

        INSERT OR IGNORE on the UNIQUE (profile, document, version): planning the same version
        again adds nothing, whatever state the earlier rows are in. With `hold` the rows are
        `held` and the review is opened in the same transaction (see `ReviewTables`); either
        way, waiting reviews of the document's other versions are superseded.
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

    @staticmethod
    def _insert(db: sqlite3.Connection, entries: Iterable[OutboxEntry], now: float, status: str = "pending") -> int:
        added = 0
        for e in entries:
            cur = db.execute(
                "INSERT OR IGNORE INTO outbox (key, profile_id, doc_id, doc_version, revised, title, doc_number,"
                " link, reason, evidence, status, created, updated)"
                " SELECT ?,?,?,?,?,?,?,?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM profiles WHERE id = ?)",
                (
                    e.key,
                    e.profile_id,
                    e.doc_id,
                    e.doc_version,
                    int(e.revised),
                    e.title,
                    e.doc_number,
                    e.link,
                    e.reason,
                    json.dumps(list(e.evidence), ensure_ascii=False),
                    status,
                    now,
                    now,
                    e.profile_id,  # a profile deleted meanwhile gets nothing
                ),
            )
            added += cur.rowcount
        return added

    def claim_next(self, owner: str, now: float, lease_seconds: float, after_id: int = 0) -> PushMessage | None:
        """Lease the oldest deliverable row with id > `after_id` to `owner` until now + lease_seconds.

        A row stays `pending` while leased; if its deliverer dies the lease runs out and the
        row is claimable again (and re-sent with the same key). `after_id` lets one job make a
        single pass, so a row that just failed is not retried by the same run.
        """
        with self._tx() as db:
            row = db.execute(
                "UPDATE outbox SET lease_owner = ?, lease_until = ?, updated = ? WHERE id = ("
                " SELECT id FROM outbox WHERE status = 'pending' AND id > ? AND not_before <= ?"
                " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY id LIMIT 1) RETURNING id",
                (owner, now + lease_seconds, now, after_id, now, now),
            ).fetchone()
            if row is None:
                return None
            r = db.execute(
                "SELECT o.*, p.channel, p.address FROM outbox o JOIN profiles p ON p.id = o.profile_id WHERE o.id = ?",
                (row["id"],),
            ).fetchone()
        return message_from_row(r)

    def mark_sent(self, row_id: int, now: float) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = ?, updated = ?,"
                " lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id = ? AND status = 'pending'",
                (now, now, row_id),
            )
            return cur.rowcount > 0

    def record_failure(self, row_id: int, error: str, now: float, max_attempts: int, retry_seconds: float) -> str:
        """Count a failed attempt; the row waits (exponential back-off) or, at `max_attempts`, is failed."""
        with self._tx() as db:
            row = db.execute("SELECT attempts FROM outbox WHERE id = ? AND status = 'pending'", (row_id,)).fetchone()
            if row is None:
                return "gone"
            attempts = int(row["attempts"]) + 1
            status = "failed" if attempts >= max_attempts else "pending"
            not_before = now + retry_seconds * (2 ** (attempts - 1))
            db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, last_error = ?, not_before = ?, updated = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (status, attempts, mask_error(error), not_before, now, row_id),
            )
        return status

    def requeue_failed(self) -> int:
        """Give failed rows a fresh set of attempts (after a gateway outage is fixed)."""
        now = time.time()
        with self._tx() as db:
            return db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, not_before = 0, updated = ?"
                " WHERE status = 'failed'",
                (now,),
            ).rowcount

    def status_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTBOX_STATUSES, 0)
        for r in self._read("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"):
            counts[r["status"]] = int(r["n"])
        return counts

    def failures(self, limit: int = 50) -> list[Failure]:
        rows = self._read(
            "SELECT key, profile_id, doc_id, attempts, last_error, updated FROM outbox"
            " WHERE status = 'failed' ORDER BY updated DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [
            Failure(r["key"], r["profile_id"], r["doc_id"], r["attempts"], r["last_error"], r["updated"]) for r in rows
        ]

    def outbox_rows(self) -> list[sqlite3.Row]:
        """Every outbox row (tests and operators' inspection)."""
        return self._read("SELECT * FROM outbox ORDER BY id")

    # -- inbox ------------------------------------------------------------------------------
    def add_to_inbox(self, message: PushMessage, now: float) -> bool:
        """Idempotent on the message key: a re-sent message is not stored twice. False if it was there."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO inbox (key, profile_id, doc_id, doc_version, revised, title, doc_number, link,"
                " reason, evidence, delivered) SELECT ?,?,?,?,?,?,?,?,?,?,?"
                " WHERE EXISTS (SELECT 1 FROM profiles WHERE id = ?)",
                (
                    message.key,
                    message.profile_id,
                    message.doc_id,
                    message.doc_version,
                    int(message.revised),
                    message.title,
                    message.doc_number,
                    message.link,
                    message.reason,
                    json.dumps(list(message.evidence), ensure_ascii=False),
                    now,
                    message.profile_id,
                ),
            )
            return cur.rowcount > 0

    def inbox(self, profile_id: str, limit: int = 20, offset: int = 0) -> tuple[int, list[InboxItem]]:
        total = int(self._read("SELECT COUNT(*) FROM inbox WHERE profile_id = ?", (profile_id,))[0][0])
        rows = self._read(
            "SELECT * FROM inbox WHERE profile_id = ? ORDER BY delivered DESC, key LIMIT ? OFFSET ?",
            (profile_id, limit, offset),
        )
        items = [inbox_item_from_row(r) for r in rows]
        return total, items
