"""The rows of the push database as plain data: contacts, subscribers, outbox entries, messages.

Also the keys and tokens that identify them, and the conversions between a row of
`qa_service.push.store.PushStore` and these dataclasses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass, field

from corpus.models import ChoiceEnum
from corpus.push.profiles import Profile
from corpus.push.targeting import Targeting
from qa_service.privacy import mask_personal

# `held`: planned but waiting for an operator's review (先审后发); delivery never claims it.
OUTBOX_STATUSES = ("held", "pending", "sent", "failed")
# A review is `waiting` until approved or dropped; `superseded` when a newer version of the text was planned.
REVIEW_STATUSES = ("waiting", "approved", "dropped", "superseded")
MAX_ERROR_CHARS = 300


class ContactChannel(ChoiceEnum):
    """How a subscriber wants to be told. Every push also lands in the in-app inbox (站内信)."""

    INBOX = "inbox"
    SMS = "sms"
    EMAIL = "email"


# The channels as the subscription form shows them.
CHANNEL_LABELS = {"inbox": "站内信", "sms": "短信", "email": "电子邮件"}


@dataclass(frozen=True)
class Contact:
    """Personal data: `address` is kept out of `repr` so it cannot slip into a log line."""

    channel: ContactChannel = ContactChannel.INBOX
    address: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.channel, ContactChannel):
            object.__setattr__(self, "channel", ContactChannel.from_str(str(self.channel)))
        if self.channel is not ContactChannel.INBOX and not self.address:
            raise ValueError(f"contact channel {self.channel.value} needs an address")
        if self.channel is ContactChannel.INBOX and self.address:
            raise ValueError("the inbox channel takes no address")

    def masked(self) -> str:
        """What may be shown where the owner is not the reader: 138****5678, z***@example.com."""
        a = self.address or ""
        if self.channel is ContactChannel.SMS and len(a) >= 7:
            return a[:3] + "****" + a[-4:]
        if self.channel is ContactChannel.EMAIL and "@" in a:
            user, _, host = a.partition("@")
            return (user[:1] or "*") + "***@" + host
        return ""


@dataclass(frozen=True)
class Subscriber:
    """A stored profile with its contact details and timestamps."""

    profile: Profile
    contact: Contact
    created: float
    updated: float


@dataclass(frozen=True)
class OutboxEntry:
    """One planned push, before it has a row id."""

    profile_id: str
    doc_id: str
    doc_version: str
    title: str
    link: str
    reason: str
    doc_number: str | None = None
    evidence: tuple[str, ...] = ()
    revised: bool = False

    @property
    def key(self) -> str:
        return outbox_key(self.profile_id, self.doc_id, self.doc_version)


@dataclass(frozen=True)
class PushMessage:
    """A claimed outbox row, ready for a channel. `key` is the idempotency key receivers dedupe on."""

    id: int
    key: str
    profile_id: str
    doc_id: str
    doc_version: str
    title: str
    link: str
    reason: str
    doc_number: str | None
    evidence: tuple[str, ...]
    revised: bool
    attempts: int
    contact: Contact


@dataclass(frozen=True)
class Review:
    """One planned document version waiting for (or decided by) an operator, with the labels it is matched on."""

    doc_id: str
    version: str
    targeting: Targeting
    reasons: tuple[str, ...]  # why it waits, Chinese
    reach: int  # profiles matched when it was (re)planned
    status: str = "waiting"
    corrected: bool = False
    created: float = 0.0
    decided: float | None = None


@dataclass(frozen=True)
class InboxItem:
    key: str
    doc_id: str
    doc_version: str
    title: str
    doc_number: str | None
    link: str
    reason: str
    evidence: tuple[str, ...]
    revised: bool
    delivered: float


@dataclass(frozen=True)
class Failure:
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str | None
    updated: float


def outbox_key(profile_id: str, doc_id: str, doc_version: str) -> str:
    """Deterministic from the UNIQUE triple, so a re-planned row gets the same key."""
    raw = json.dumps([profile_id, doc_id, doc_version], ensure_ascii=False)
    return "push-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def new_profile_id() -> str:
    # Random, not sequential: ids cannot be enumerated.
    return "p-" + secrets.token_hex(8)


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash suffices (no dictionary to attack).
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def mask_error(text: str) -> str:
    """A channel's error message, safe to store and log: personal details masked, bounded."""
    text = mask_personal(" ".join(text.split()))
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def profile_values(profile: Profile, contact: Contact) -> tuple[object, ...]:
    """The `profiles` columns after the id and token hash, in table order (timestamps aside)."""
    return (
        profile.kind.value,
        profile.province,
        profile.city,
        profile.district,
        profile.street,
        json.dumps(list(profile.groups), ensure_ascii=False),
        json.dumps(list(profile.topics), ensure_ascii=False),
        mask_personal(profile.description),  # residents write phone numbers into it; contact has its own field
        contact.channel.value,
        contact.address,
    )


def subscriber_from_row(row: sqlite3.Row) -> Subscriber:
    profile = Profile.from_dict(
        {
            "profile_id": row["id"],
            "kind": row["kind"],
            "province": row["province"],
            "city": row["city"],
            "district": row["district"],
            "street": row["street"],
            "groups": json.loads(row["groups"]),
            "topics": json.loads(row["topics"]),
            "description": row["description"],
        }
    )
    contact = Contact(ContactChannel(row["channel"]), row["address"])
    return Subscriber(profile, contact, row["created"], row["updated"])


def message_from_row(r: sqlite3.Row) -> PushMessage:
    """An outbox row joined with its profile's `channel` and `address`."""
    return PushMessage(
        id=r["id"],
        key=r["key"],
        profile_id=r["profile_id"],
        doc_id=r["doc_id"],
        doc_version=r["doc_version"],
        title=r["title"],
        link=r["link"],
        reason=r["reason"],
        doc_number=r["doc_number"],
        evidence=tuple(json.loads(r["evidence"])),
        revised=bool(r["revised"]),
        attempts=r["attempts"],
        contact=Contact(ContactChannel(r["channel"]), r["address"]),
    )


def inbox_item_from_row(r: sqlite3.Row) -> InboxItem:
    return InboxItem(
        key=r["key"],
        doc_id=r["doc_id"],
        doc_version=r["doc_version"],
        title=r["title"],
        doc_number=r["doc_number"],
        link=r["link"],
        reason=r["reason"],
        evidence=tuple(json.loads(r["evidence"])),
        revised=bool(r["revised"]),
        delivered=r["delivered"],
    )


def review_from_row(r: sqlite3.Row) -> Review:
    return Review(
        doc_id=r["doc_id"],
        version=r["version"],
        targeting=Targeting.from_dict(json.loads(r["labels"])),
        reasons=tuple(json.loads(r["reasons"])),
        reach=r["reach"],
        status=r["status"],
        corrected=bool(r["corrected"]),
        created=r["created"],
        decided=r["decided"],
    )
