"""Delivery's side of the outbox: claims under a lease, digests, deferral, sent marks, failures.

A row stays `pending` while leased; if its deliverer dies the lease runs out and the row is claimable
again (re-sent with the same key, which every channel dedupes on). Concurrent claimers skip each
other's rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one writer at a time). The flow is
`qa_service.push.delivery`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, text

from qa_service.push.records import PushMessage, mask_error, message_from_row
from qa_service.push.store_base import StoreBase

_MESSAGE_SELECT = (
    "SELECT o.id, o.key, o.profile_id, o.doc_id, o.doc_version, o.revised, o.title, o.doc_number, o.link,"
    " o.reason, o.evidence, o.attempts, o.digest, o.channel AS out_channel, p.channel, p.address, p.channels,"
    " p.email, p.phone, p.webhook_url, p.webhook_secret, p.delivery_mode, p.quiet_start, p.quiet_end, p.daily_cap"
    " FROM outbox o JOIN profiles p ON p.id = o.profile_id"
)


class ClaimTables(StoreBase):
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
