"""The in-app inbox of the push store: delivered items per profile, idempotent on the message key,
with read receipts (the first opening is kept)."""

from __future__ import annotations

import json

from sqlalchemy import text

from qa_service.push.records import InboxItem, PushMessage, inbox_item_from_row
from qa_service.push.store_base import StoreBase


class InboxTables(StoreBase):
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
