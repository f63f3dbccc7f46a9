"""Storage for precise push: subscriber profiles, the documents to plan, the outbox, the in-app inbox.

SQLAlchemy 2 Core over SQLite (default: its own file beside `qa.sqlite3`, mode 0600, WAL) or
PostgreSQL (`QA_PUSH_DATABASE_URL`); the tables come from the Alembic migrations run at open
(`qa_service.push.db`). The store holds personal data (contact details, self-descriptions) that
the Q&A data does not, so it can be backed up, erased or locked down on its own.

Every write is one transaction, so a process killed at any point leaves each row either fully
written or not at all. The outbox key (profile, document, version, channel) is UNIQUE, which
makes planning idempotent; the claim lease and the per-row "sent" commit make delivery resumable
(see `qa_service.push.delivery`). Concurrent claimers skip each other's rows (`FOR UPDATE SKIP
LOCKED` on PostgreSQL; SQLite has one writer at a time). Row dataclasses: `qa_service.push.records`;
the review step's SQL: `qa_service.push.review_store`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, text

from corpus.push.profiles import Profile
from qa_service.push import db as dbm
from qa_service.push.records import (
    STATUS_COUNTS,
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
    new_webhook_secret,
    outbox_key,
    profile_values,
    subscriber_from_row,
)
from qa_service.push.review_store import ReviewTables

Row = Mapping[str, Any]
BATCH = 5000  # rows per executemany batch when planning a document for many profiles

_MESSAGE_SELECT = (
    "SELECT o.id, o.key, o.profile_id, o.doc_id, o.doc_version, o.revised, o.title, o.doc_number, o.link,"
    " o.reason, o.evidence, o.attempts, o.digest, o.channel AS out_channel, p.channel, p.address, p.channels,"
    " p.email, p.phone, p.webhook_url, p.webhook_secret, p.delivery_mode, p.quiet_start, p.quiet_end, p.daily_cap"
    " FROM outbox o JOIN profiles p ON p.id = o.profile_id"
)
_INSERT_OUTBOX = text(
    "INSERT INTO outbox (key, profile_id, doc_id, doc_version, channel, revised, title, doc_number, link, reason,"
    " evidence, status, created, updated) VALUES (:key, :profile_id, :doc_id, :doc_version, :channel, :revised,"
    " :title, :doc_number, :link, :reason, :evidence, :status, :now, :now) ON CONFLICT DO NOTHING"
)


_COPY_MIN = 500  # PostgreSQL batches at least this large go through COPY
_LOAD_COLUMNS = (
    "key, profile_id, doc_id, doc_version, channel, revised, title, doc_number, link, reason, evidence, status,"
    " created, updated"
)
_LOAD_KEYS = [c.strip() for c in _LOAD_COLUMNS.replace("created", "now").replace("updated", "now").split(",")]


class PushStore(ReviewTables):
    def __init__(self, path: str | Path | None = None, *, url: str | None = None) -> None:
        """`path`: a SQLite file (or ":memory:"); `url`: any SQLAlchemy URL (PostgreSQL: postgresql://...)."""
        if url is None and path is not None and "://" in str(path):
            url = str(path)
        if url is None:
            if path is None:
                raise ValueError("PushStore needs a SQLite path or a database URL")
            url = dbm.sqlite_url(path)
        self.url = url
        self.engine = dbm.open_engine(url)
        self.sqlite = dbm.is_sqlite(self.engine)
        # Reads in deferred transactions on SQLite, so they never queue for the write lock.
        memory = self.sqlite and self.engine.url.database in (None, "", ":memory:")
        self._reader = dbm.create(url, writer=False) if self.sqlite and not memory else self.engine
        # The SQLite file, for tools that open it directly; None on PostgreSQL.
        self.path = str(path) if self.sqlite and path is not None and "://" not in str(path) else None
        if self.sqlite and self.path is None:
            self.path = self.engine.url.database or ":memory:"
        self._share = "" if self.sqlite else " FOR KEY SHARE"  # a profile being planned cannot vanish mid-insert
        self.channels: frozenset[str] | None = None  # planned channels; None: every channel a subscription names

    def enable_channels(self, names: Iterable[str]) -> None:
        """Plan rows only for these channels (those the deployment can send through); the inbox always."""
        self.channels = frozenset(names) | {"inbox"}

    def close(self) -> None:
        self._reader.dispose()
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        with self._reader.connect() as conn:
            rows = [r._mapping for r in conn.execute(text(sql), dict(params or {}))]
            conn.rollback()
        return rows

    # -- profiles ----------------------------------------------------------------
    @staticmethod
    def _with_secret(contact: Contact, old: str | None = None) -> Contact:
        # A webhook subscription signs with its own secret: kept across edits, made when first needed.
        if "webhook" in contact.channels and not contact.webhook_secret:
            return replace(contact, webhook_secret=old or new_webhook_secret())
        return contact

    def create_profile(self, profile: Profile, contact: Contact) -> str:
        """Stores the profile and returns its secret token; only the token's hash is kept."""
        token = "pt-" + secrets.token_urlsafe(32)
        now = time.time()
        values = profile_values(profile, self._with_secret(contact))
        cols = ", ".join(values)
        with self._tx() as db:
            db.execute(
                text(
                    f"INSERT INTO profiles (id, token_hash, {cols}, created, updated)"
                    f" VALUES (:id, :token_hash, {', '.join(':' + c for c in values)}, :now, :now)"
                ),
                {**values, "id": profile.profile_id, "token_hash": hash_token(token), "now": now},
            )
        return token

    def profile_by_token(self, token: str) -> Subscriber | None:
        rows = self._read("SELECT * FROM profiles WHERE token_hash = :h", {"h": hash_token(token)})
        return subscriber_from_row(rows[0]) if rows else None

    def get_profile(self, profile_id: str) -> Subscriber | None:
        rows = self._read("SELECT * FROM profiles WHERE id = :id", {"id": profile_id})
        return subscriber_from_row(rows[0]) if rows else None

    def update_profile(self, profile: Profile, contact: Contact) -> bool:
        with self._tx() as db:
            old = db.execute(
                text("SELECT webhook_secret FROM profiles WHERE id = :id"), {"id": profile.profile_id}
            ).first()
            if old is None:
                return False
            values = profile_values(profile, self._with_secret(contact, old[0]))
            sets = ", ".join(f"{c} = :{c}" for c in values)
            db.execute(
                text(f"UPDATE profiles SET {sets}, updated = :now WHERE id = :id"),
                {**values, "now": time.time(), "id": profile.profile_id},
            )
            return True

    def delete_profile(self, profile_id: str) -> bool:
        """Erases the profile with everything derived from it: outbox rows (digests included) and inbox
        (ON DELETE CASCADE), in one transaction."""
        with self._tx() as db:
            return db.execute(text("DELETE FROM profiles WHERE id = :id"), {"id": profile_id}).rowcount > 0

    def profiles(self) -> list[Profile]:
        return [subscriber_from_row(r).profile for r in self._read("SELECT * FROM profiles ORDER BY id")]

    def count_profiles(self) -> int:
        return int(self._read("SELECT COUNT(*) AS n FROM profiles")[0]["n"])

    # -- documents to plan ------------------------------------------------------------
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

    # -- outbox -------------------------------------------------------------------------
    def enqueue(self, doc_id: str, version: str, entries: Iterable[OutboxEntry], hold: Review | None = None) -> int:
        """Insert the rows of one planned document and mark it planned, atomically; returns rows added.

        One row per profile and channel of its subscription, inserted in batches (executemany);
        ON CONFLICT DO NOTHING on the UNIQUE (profile, document, version, channel): planning the
        same version again adds nothing, whatever state the earlier rows are in. With `hold` the
        rows are `held` and the review is opened in the same transaction (see `ReviewTables`);
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
                    "evidence": evidence, "status": status, "now": now,
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
            "CREATE TEMP TABLE IF NOT EXISTS outbox_load (key text, profile_id text, doc_id text, doc_version text,"
            " channel text, revised integer, title text, doc_number text, link text, reason text, evidence text,"
            " status text, created double precision, updated double precision) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY outbox_load ({_LOAD_COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in _LOAD_KEYS])
        cur.execute(
            f"INSERT INTO outbox ({_LOAD_COLUMNS}) SELECT {_LOAD_COLUMNS} FROM outbox_load ORDER BY profile_id"
            " ON CONFLICT DO NOTHING"
        )
        added = cur.rowcount
        cur.execute("TRUNCATE outbox_load")
        return max(added, 0)

    def claim_next(
        self,
        owner: str,
        now: float,
        lease_seconds: float,
        after_id: int = 0,
        channels: Sequence[str] | None = None,
    ) -> PushMessage | None:
        """Lease the oldest deliverable row with id > `after_id` (of `channels`, default any) to `owner`.

        A row stays `pending` while leased; if its deliverer dies the lease runs out and the
        row is claimable again (and re-sent with the same key). `after_id` lets one job make a
        single pass, so a row that just failed is not retried by the same run.
        """
        where = (
            "status = 'pending' AND id > :after AND not_before <= :now AND (lease_until IS NULL OR lease_until <= :now)"
        )
        params: dict[str, Any] = {"after": after_id, "now": now, "owner": owner, "until": now + lease_seconds}
        if channels is not None:
            if not channels:
                return None
            where += " AND channel IN :channels"
            params["channels"] = list(channels)
        with self._tx() as db:
            if self.sqlite:
                sql = (
                    "UPDATE outbox SET lease_owner = :owner, lease_until = :until, updated = :now WHERE id = ("
                    f"SELECT id FROM outbox WHERE {where} ORDER BY id LIMIT 1) RETURNING id"
                )
            else:
                sql = (
                    "UPDATE outbox SET lease_owner = :owner, lease_until = :until, updated = :now WHERE id = ("
                    f"SELECT id FROM outbox WHERE {where} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
                )
            query = text(sql)
            if channels is not None:
                query = query.bindparams(bindparam("channels", expanding=True))
            row = db.execute(query, params).first()
            if row is None:
                return None
            r = db.execute(text(_MESSAGE_SELECT + " WHERE o.id = :id"), {"id": row[0]}).mappings().first()
        return message_from_row(r) if r is not None else None

    def _lock_profile(self, db: Connection, profile_id: str) -> None:
        """Serialise a profile's digest assignment and digest claims (SQLite has one writer anyway)."""
        if not self.sqlite:
            db.execute(text("SELECT id FROM profiles WHERE id = :p FOR UPDATE"), {"p": profile_id})

    def defer_into_digest(
        self, row_id: int, profile_id: str, channel: str, digests: Sequence[tuple[str, float]], now: float
    ) -> str | None:
        """Put a claimed row into the first of `digests` (key, due time) that is not sent or being sent.

        A digest with a row sent or leased (by a run that may be sending it right now, or died doing so)
        is closed: a row added to it would go out under a key the receiver has already seen, and be lost.
        Check and assignment are one transaction under the profile's lock, which `claim_digest` takes too.
        """
        with self._tx() as db:
            self._lock_profile(db, profile_id)
            for key, due in digests:
                closed = db.execute(
                    text(
                        "SELECT 1 FROM outbox WHERE digest = :g AND channel = :c AND id <> :id"
                        " AND (status = 'sent' OR lease_owner IS NOT NULL) LIMIT 1"
                    ),
                    {"g": key, "c": channel, "id": row_id},
                ).first()
                if closed is not None:
                    continue
                db.execute(
                    text(
                        "UPDATE outbox SET not_before = :nb, digest = :g, lease_owner = NULL, lease_until = NULL,"
                        " updated = :now WHERE id = :id AND status = 'pending'"
                    ),
                    {"nb": due, "g": key, "now": now, "id": row_id},
                )
                return key
        return None

    def claim_digest(
        self, owner: str, digest: str, channel: str, now: float, lease_seconds: float, profile_id: str | None = None
    ) -> list[PushMessage]:
        """Lease every pending row of one digest (a leased row of it included: its owner is this run)."""
        with self._tx() as db:
            if profile_id is not None:
                self._lock_profile(db, profile_id)
            lock = "" if self.sqlite else " FOR UPDATE"
            ids = [
                r[0]
                for r in db.execute(
                    text(f"SELECT id FROM outbox WHERE digest = :g AND channel = :c AND status = 'pending'"
                         f" ORDER BY id{lock}"),
                    {"g": digest, "c": channel},
                )
            ]  # fmt: skip
            if not ids:
                return []
            q = text("UPDATE outbox SET lease_owner = :o, lease_until = :u, updated = :now WHERE id IN :ids")
            db.execute(
                q.bindparams(bindparam("ids", expanding=True)),
                {"o": owner, "u": now + lease_seconds, "now": now, "ids": ids},
            )
            q = text(_MESSAGE_SELECT + " WHERE o.id IN :ids ORDER BY o.id").bindparams(bindparam("ids", expanding=True))
            return [message_from_row(r) for r in db.execute(q, {"ids": ids}).mappings()]

    def defer(self, row_id: int, not_before: float, now: float, digest: str | None = None) -> bool:
        """Release a claimed row unsent until `not_before` (quiet hours, the daily cap, a digest's time)."""
        with self._tx() as db:
            cur = db.execute(
                text(
                    "UPDATE outbox SET not_before = :nb, digest = COALESCE(:g, digest), lease_owner = NULL,"
                    " lease_until = NULL, updated = :now WHERE id = :id AND status = 'pending'"
                ),
                {"nb": not_before, "g": digest, "now": now, "id": row_id},
            )
            return cur.rowcount > 0

    def sent_between(self, profile_id: str, channel: str, start: float, end: float) -> int:
        """Messages sent to a profile on a channel in [start, end): a digest counts once (the daily cap)."""
        rows = self._read(
            "SELECT COUNT(DISTINCT COALESCE(digest, key)) AS n FROM outbox WHERE profile_id = :p AND channel = :c"
            " AND status = 'sent' AND sent >= :s AND sent < :e",
            {"p": profile_id, "c": channel, "s": start, "e": end},
        )
        return int(rows[0]["n"])

    def mark_sent(self, row_id: int, now: float) -> bool:
        return self.mark_sent_many([row_id], now) > 0

    def mark_sent_many(self, row_ids: Sequence[int], now: float) -> int:
        q = text(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent = :now, updated = :now,"
            " lease_owner = NULL, lease_until = NULL, last_error = NULL WHERE id IN :ids AND status = 'pending'"
        ).bindparams(bindparam("ids", expanding=True))
        with self._tx() as db:
            return db.execute(q, {"now": now, "ids": list(row_ids)}).rowcount

    def record_failure(
        self,
        row_id: int,
        error: str,
        now: float,
        max_attempts: int,
        retry_seconds: float,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> str:
        """Count a failed attempt: the row waits (exponential back-off, or the receiver's `retry_after`
        if longer) or, at `max_attempts` or when `permanent`, is dead-lettered (`dead`). Returns the status,
        or "gone" when the row no longer exists (its profile was deleted meanwhile)."""
        with self._tx() as db:
            row = db.execute(
                text("SELECT attempts FROM outbox WHERE id = :id AND status = 'pending'"), {"id": row_id}
            ).first()
            if row is None:
                return "gone"
            attempts = int(row[0]) + 1
            status = "dead" if permanent or attempts >= max_attempts else "pending"
            not_before = now + max(retry_seconds * (2 ** (attempts - 1)), retry_after or 0.0)
            db.execute(
                text(
                    "UPDATE outbox SET status = :s, attempts = :a, last_error = :e, not_before = :nb, updated = :now,"
                    " lease_owner = NULL, lease_until = NULL WHERE id = :id"
                ),
                {"s": status, "a": attempts, "e": mask_error(error), "nb": not_before, "now": now, "id": row_id},
            )
        return status

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

    _COUNTS = (
        "SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END) AS held,"
        " SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,"
        " SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END) AS sent,"
        " SUM(CASE WHEN status = 'pending' AND attempts > 0 THEN 1 ELSE 0 END) AS failed,"
        " SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead"
    )

    def status_counts(self) -> dict[str, int]:
        """Rows per status, and `failed`: pending rows whose last attempt failed (to be retried)."""
        [r] = self._read(f"SELECT {self._COUNTS} FROM outbox")
        return {k: int(r[k] or 0) for k in STATUS_COUNTS}

    def status_by_document(self, doc_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Per document and channel: held, pending, sent, failed (retrying), dead; newest documents first."""
        where, params = ("WHERE doc_id = :d", {"d": doc_id}) if doc_id else ("", {})
        rows = self._read(
            f"SELECT doc_id, channel, {self._COUNTS}, MAX(created) AS planned FROM outbox {where}"
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

    # -- inbox ------------------------------------------------------------------------------
    def add_to_inbox(self, message: PushMessage, now: float) -> bool:
        """Idempotent on the message key: a re-sent message is not stored twice. False if it was there."""
        with self._tx() as db:
            cur = db.execute(
                text(
                    "INSERT INTO inbox (key, profile_id, doc_id, doc_version, revised, title, doc_number, link,"
                    " reason, evidence, delivered) SELECT :key, :p, :d, :v, :r, :t, :n, :l, :reason, :e, :now"
                    f" WHERE EXISTS (SELECT 1 FROM profiles WHERE id = :p{self._share}) ON CONFLICT DO NOTHING"
                ),
                {
                    "key": message.key, "p": message.profile_id, "d": message.doc_id, "v": message.doc_version,
                    "r": int(message.revised), "t": message.title, "n": message.doc_number, "l": message.link,
                    "reason": message.reason, "e": json.dumps(list(message.evidence), ensure_ascii=False), "now": now,
                },
            )  # fmt: skip
            return cur.rowcount > 0

    def inbox(self, profile_id: str, limit: int = 20, offset: int = 0) -> tuple[int, list[InboxItem]]:
        total = int(self._read("SELECT COUNT(*) AS n FROM inbox WHERE profile_id = :p", {"p": profile_id})[0]["n"])
        rows = self._read(
            "SELECT * FROM inbox WHERE profile_id = :p ORDER BY delivered DESC, key LIMIT :n OFFSET :o",
            {"p": profile_id, "n": limit, "o": offset},
        )
        return total, [inbox_item_from_row(r) for r in rows]

    def unread_count(self, profile_id: str) -> int:
        rows = self._read(
            "SELECT COUNT(*) AS n FROM inbox WHERE profile_id = :p AND read_at IS NULL", {"p": profile_id}
        )
        return int(rows[0]["n"])

    def mark_read(self, profile_id: str, key: str, now: float) -> InboxItem | None:
        """The resident opened an item: its read receipt (first opening kept). None when not theirs."""
        with self._tx() as db:
            db.execute(
                text("UPDATE inbox SET read_at = :now WHERE key = :k AND profile_id = :p AND read_at IS NULL"),
                {"now": now, "k": key, "p": profile_id},
            )
            r = (
                db.execute(text("SELECT * FROM inbox WHERE key = :k AND profile_id = :p"), {"k": key, "p": profile_id})
                .mappings()
                .first()
            )
        return inbox_item_from_row(r) if r is not None else None
