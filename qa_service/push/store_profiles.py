"""Subscriber profiles of the push store: contact details and preferences behind a hashed token, and
each self-description's vector (`qa_service.push.vectors`) for ranking a document's matches.

Deleting a profile deletes everything derived from it (outbox, digests, inbox: ON DELETE CASCADE).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import text

from corpus.push.profiles import Profile
from qa_service.push.records import (
    Contact,
    Subscriber,
    hash_token,
    new_webhook_secret,
    profile_values,
    subscriber_from_row,
)
from qa_service.push.store_base import StoreBase
from qa_service.push.vectors import DescriptionVector


def _vector_values(vector: DescriptionVector | None) -> dict[str, object]:
    if vector is None:
        return {"description_vector": None, "description_scale": None, "description_encoder": None}
    return {"description_vector": vector.data, "description_scale": vector.scale, "description_encoder": vector.encoder}


class ProfileTables(StoreBase):
    @staticmethod
    def _with_secret(contact: Contact, old: str | None = None) -> Contact:
        # A webhook subscription signs with its own secret: kept across edits, made when first needed.
        if "webhook" in contact.channels and not contact.webhook_secret:
            return replace(contact, webhook_secret=old or new_webhook_secret())
        return contact

    def create_profile(self, profile: Profile, contact: Contact, *, vector: DescriptionVector | None = None) -> str:
        """Stores the profile (with its description's vector) and returns its secret token; only the token's
        hash is kept."""
        token = "pt-" + secrets.token_urlsafe(32)
        now = time.time()
        values = {**profile_values(profile, self._with_secret(contact)), **_vector_values(vector)}
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

    def update_profile(self, profile: Profile, contact: Contact, *, vector: DescriptionVector | None = None) -> bool:
        """Replace a profile; its description vector is replaced too (None: none, until the matcher's next
        load encodes it), so a vector never outlives the text it was made from."""
        with self._tx() as db:
            old = db.execute(
                text("SELECT webhook_secret FROM profiles WHERE id = :id"), {"id": profile.profile_id}
            ).first()
            if old is None:
                return False
            values = {**profile_values(profile, self._with_secret(contact, old[0])), **_vector_values(vector)}
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

    # -- description vectors -------------------------------------------------------------------------
    def profiles_with_vectors(self, encoder: str | None) -> list[tuple[Profile, DescriptionVector | None]]:
        """Every profile with its description vector made by `encoder` (None when missing or stale)."""
        out = []
        for r in self._read("SELECT * FROM profiles ORDER BY id"):
            vector = None
            if encoder is not None and r["description_encoder"] == encoder and r["description_vector"] is not None:
                vector = DescriptionVector(encoder, bytes(r["description_vector"]), float(r["description_scale"]))
            out.append((subscriber_from_row(r).profile, vector))
        return out

    def set_description_vectors(self, vectors: Iterable[tuple[str, str, DescriptionVector]]) -> int:
        """Store (profile id, description, vector) encoded later (the encoder changed, or a profile from before
        0003); a profile whose description was edited meanwhile keeps its newer state."""
        rows = [{"id": pid, "d": description, **_vector_values(v)} for pid, description, v in vectors]
        if not rows:
            return 0
        with self._tx() as db:
            return db.execute(
                text(
                    "UPDATE profiles SET description_vector = :description_vector, description_scale ="
                    " :description_scale, description_encoder = :description_encoder"
                    " WHERE id = :id AND description = :d"
                ),
                rows,
            ).rowcount
