"""The rows of the push database as plain data: contacts, subscribers, outbox entries, messages.

Also the keys and tokens that identify them, and the conversions between a row of
`qa_service.push.store.PushStore` and these dataclasses.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corpus.models import ChoiceEnum
from corpus.push.profiles import Profile
from corpus.push.targeting import Targeting
from qa_service.privacy import mask_personal
from qa_service.push.preferences import DeliveryMode, QuietHours

# `held`: planned but waiting for an operator's review (先审后发); delivery never claims it.
# `dead`: dead-lettered after the last attempt (or a permanent refusal); an operator may requeue it.
OUTBOX_STATUSES = ("held", "pending", "sent", "dead")
# What operators see per document and channel: `failed` counts pending rows whose last attempt failed
# (waiting to be retried), beside the statuses themselves.
STATUS_COUNTS = ("held", "pending", "sent", "failed", "dead")
# The channels a subscription may name; every subscription has the inbox.
CHANNELS = ("inbox", "webhook", "email", "sms")
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
    """How and when a subscriber is told. Personal data (addresses, the webhook's URL and secret) are
    kept out of `repr` so they cannot slip into a log line.

    `channel` + `address` is the form's original single contact; `channels` (inbox always first) is
    derived from it when not given, and so are `email` / `phone`. Quiet hours are minutes after
    midnight, Asia/Shanghai; `daily_cap` None means no cap.
    """

    channel: ContactChannel = ContactChannel.INBOX
    address: str | None = field(default=None, repr=False)
    channels: tuple[str, ...] = ()
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    delivery_mode: str = "immediate"
    quiet_start: int | None = None
    quiet_end: int | None = None
    daily_cap: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.channel, ContactChannel):
            object.__setattr__(self, "channel", ContactChannel.from_str(str(self.channel)))
        if self.channel is not ContactChannel.INBOX and not self.address:
            raise ValueError(f"contact channel {self.channel.value} needs an address")
        if self.channel is ContactChannel.INBOX and self.address:
            raise ValueError("the inbox channel takes no address")
        if self.channel is ContactChannel.EMAIL and self.email is None:
            object.__setattr__(self, "email", self.address)
        if self.channel is ContactChannel.SMS and self.phone is None:
            object.__setattr__(self, "phone", self.address)
        named = self.channels or (("inbox",) if self.channel is ContactChannel.INBOX else ("inbox", self.channel.value))
        bad = [c for c in named if c not in CHANNELS]
        if bad:
            raise ValueError(f"channels must be among {', '.join(CHANNELS)}, got {bad[0]!r}")
        object.__setattr__(self, "channels", tuple(dict.fromkeys(("inbox", *named))))
        for name, needs in (("email", self.email), ("sms", self.phone), ("webhook", self.webhook_url)):
            if name in self.channels and not needs:
                raise ValueError(f"channel {name} needs its address")
        object.__setattr__(self, "delivery_mode", DeliveryMode.from_str(str(self.delivery_mode)).value)
        QuietHours.of(self.quiet_start, self.quiet_end)  # raises on half or bad quiet hours
        if self.daily_cap is not None and (isinstance(self.daily_cap, bool) or self.daily_cap < 1):
            raise ValueError(f"daily_cap must be >= 1 or none, got {self.daily_cap!r}")

    @property
    def quiet(self) -> QuietHours | None:
        return QuietHours.of(self.quiet_start, self.quiet_end)

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
    score: float | None = None  # document vector · description vector: planning orders by it, best first

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
    channel: str = "inbox"  # the outbox row's channel: which `Channel` sends it
    digest: str | None = None  # the daily digest key the row was put into, if any
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)


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
    read_at: float | None = None  # when the resident opened it (read receipt); None: unread


@dataclass(frozen=True)
class Failure:
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str | None
    updated: float
    channel: str = "inbox"
    dead: bool = True  # False: still retrying


def outbox_key(profile_id: str, doc_id: str, doc_version: str, channel: str = "inbox") -> str:
    """Deterministic from the UNIQUE (profile, document, version, channel), so a re-planned row gets the
    same key. The inbox's key leaves the channel out: it is the key stores made before channels used."""
    parts = [profile_id, doc_id, doc_version] + ([] if channel == "inbox" else [channel])
    raw = json.dumps(parts, ensure_ascii=False)
    return "push-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def new_webhook_secret() -> str:
    """The per-subscription HMAC secret of the webhook channel (shown to the resident once)."""
    return "whsec-" + secrets.token_urlsafe(32)


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


def profile_values(profile: Profile, contact: Contact) -> dict[str, object]:
    """The `profiles` columns but the id, token hash and timestamps."""
    return {
        "kind": profile.kind.value,
        "province": profile.province,
        "city": profile.city,
        "district": profile.district,
        "street": profile.street,
        "groups": json.dumps(list(profile.groups), ensure_ascii=False),
        "topics": json.dumps(list(profile.topics), ensure_ascii=False),
        # residents write phone numbers into it; contact has its own fields
        "description": mask_personal(profile.description),
        "channel": contact.channel.value,
        "address": contact.address,
        "channels": json.dumps(list(contact.channels)),
        "email": contact.email,
        "phone": contact.phone,
        "webhook_url": contact.webhook_url,
        "webhook_secret": contact.webhook_secret,
        "delivery_mode": contact.delivery_mode,
        "quiet_start": contact.quiet_start,
        "quiet_end": contact.quiet_end,
        "daily_cap": contact.daily_cap,
    }


def contact_from_row(row: Mapping[str, Any]) -> Contact:
    return Contact(
        ContactChannel(row["channel"]),
        row["address"],
        tuple(json.loads(row["channels"] or "[]")),
        row["email"],
        row["phone"],
        row["webhook_url"],
        row["webhook_secret"],
        row["delivery_mode"],
        row["quiet_start"],
        row["quiet_end"],
        row["daily_cap"],
    )


def subscriber_from_row(row: Mapping[str, Any]) -> Subscriber:
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
    return Subscriber(profile, contact_from_row(row), row["created"], row["updated"])


def message_from_row(r: Mapping[str, Any]) -> PushMessage:
    """An outbox row joined with its profile's contact columns."""
    contact = contact_from_row(r)
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
        contact=contact,
        channel=r["out_channel"],
        digest=r["digest"],
        email=contact.email,
        phone=contact.phone,
        webhook_url=contact.webhook_url,
        webhook_secret=contact.webhook_secret,
    )


def inbox_item_from_row(r: Mapping[str, Any]) -> InboxItem:
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
        read_at=r["read_at"],
    )


def review_from_row(r: Mapping[str, Any]) -> Review:
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
