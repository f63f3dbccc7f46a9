"""Residents' delivery preferences as pure functions: quiet hours, daily digests, the daily cap, and
the signed one-click unsubscribe token.

Every wall-clock rule is in Asia/Shanghai (the district's time zone; no daylight saving since
1991, but the arithmetic goes through `zoneinfo` wall-clock times, never "+8 hours", so it stays
right for any zone). Times in and out are Unix timestamps (float seconds), as the store keeps them.

- Quiet hours `[start, end)` in minutes after local midnight; `start > end` wraps past midnight
  (22:00-07:00). A message due inside them waits until `end`.
- A daily digest for local day D holds the rows that became due after the previous day's send
  time and before D's; it is due at D's send time (then pushed past quiet hours). Its key
  `digest:<profile>:<YYYY-MM-DD>:<channel>` is its idempotency key.
- The daily cap counts messages (a digest is one) sent on the local day; once reached, the next
  one waits for the next local midnight (and then for the end of quiet hours).
- The unsubscribe token is `<profile_id>.<expiry, base 36 or empty>.<HMAC-SHA256, 96 bits,
  base64url>`: short enough for an SMS link, verifiable without a login or a database lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from corpus.models import ChoiceEnum

TZ = ZoneInfo("Asia/Shanghai")
MINUTES_PER_DAY = 24 * 60
DEFAULT_DIGEST_MINUTE = 18 * 60  # 18:00: after office hours, before quiet hours usually start

T = TypeVar("T")


class DeliveryMode(ChoiceEnum):
    IMMEDIATE = "immediate"
    DIGEST = "digest"


def _check_minute(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MINUTES_PER_DAY:
        raise ValueError(f"{what} must be minutes after midnight, 0..{MINUTES_PER_DAY - 1}, got {value!r}")
    return value


def local_day(ts: float) -> date:
    """The Asia/Shanghai calendar day of a timestamp."""
    return datetime.fromtimestamp(ts, TZ).date()


def at_local(day: date, minute: int = 0) -> float:
    """The timestamp of `minute` minutes after midnight (wall clock) on local `day`."""
    _check_minute(minute, "minute")
    return datetime.combine(day, time(minute // 60, minute % 60), TZ).timestamp()


def _seconds_into_day(ts: float) -> tuple[date, float]:
    local = datetime.fromtimestamp(ts, TZ)
    return local.date(), local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6


@dataclass(frozen=True)
class QuietHours:
    """`[start, end)` minutes after local midnight during which nothing is sent; wraps when start > end."""

    start: int
    end: int

    def __post_init__(self) -> None:
        _check_minute(self.start, "quiet_start")
        _check_minute(self.end, "quiet_end")
        if self.start == self.end:
            raise ValueError(f"quiet hours need start != end (use none for no quiet hours), got {self.start}")

    @classmethod
    def of(cls, start: int | None, end: int | None) -> QuietHours | None:
        """The subscription's columns: both None means none; one without the other is an error."""
        if start is None and end is None:
            return None
        if start is None or end is None:
            raise ValueError(f"quiet hours need both start and end, got {start!r}, {end!r}")
        return cls(start, end)

    @property
    def wraps(self) -> bool:
        return self.start > self.end

    def contains(self, ts: float) -> bool:
        _, s = _seconds_into_day(ts)
        lo, hi = self.start * 60, self.end * 60
        return (lo <= s or s < hi) if self.wraps else lo <= s < hi

    def next_allowed(self, ts: float) -> float:
        """`ts` itself when outside quiet hours, else the moment they end."""
        day, s = _seconds_into_day(ts)
        if not self.contains(ts):
            return ts
        if self.wraps and s >= self.start * 60:  # evening part: they end tomorrow morning
            day += timedelta(days=1)
        return at_local(day, self.end)


_CLOCK = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


def parse_clock(text: str) -> int:
    """ "22:00" (or the full-width "22：00" residents type) -> minutes after midnight; ValueError otherwise."""
    m = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"a time of day must be HH:MM, 00:00..23:59, got {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def format_clock(minute: int) -> str:
    _check_minute(minute, "minute")
    return f"{minute // 60:02d}:{minute % 60:02d}"


def count_on_day(sent_times: Iterable[float], day: date) -> int:
    """How many of the timestamps fall on local `day` (what the daily cap counts)."""
    return sum(1 for t in sent_times if local_day(t) == day)


def cap_reached(sent_today: int, cap: int | None) -> bool:
    if cap is not None and (isinstance(cap, bool) or cap < 1):
        raise ValueError(f"daily_cap must be >= 1 or none, got {cap!r}")
    return cap is not None and sent_today >= cap


def next_send_time(
    now: float, *, quiet: QuietHours | None = None, cap: int | None = None, sent_today: int = 0
) -> float:
    """When a message due `now` may go: after the cap's day is over, then outside quiet hours.

    `sent_today` counts the messages already sent on `local_day(now)`. Once the cap moves the
    message to the next day that day's count is zero, so one pass of each rule is enough.
    """
    t = now
    if cap_reached(sent_today, cap):
        t = at_local(local_day(now) + timedelta(days=1))
    return quiet.next_allowed(t) if quiet is not None else t


# -- daily digests ---------------------------------------------------------------------------------
def digest_key(profile_id: str, day: date, channel: str) -> str:
    return f"digest:{profile_id}:{day.isoformat()}:{channel}"


_DIGEST_KEY = re.compile(r"^digest:([A-Za-z0-9_-]{1,64}):(\d{4}-\d{2}-\d{2}):([a-z]{1,20})$")


def parse_digest_key(key: str) -> tuple[str, date, str]:
    m = _DIGEST_KEY.match(key)
    if m is None:
        raise ValueError(f"not a digest key (digest:<profile>:<YYYY-MM-DD>:<channel>): {key!r}")
    return m.group(1), date.fromisoformat(m.group(2)), m.group(3)


def digest_day(due: float, send_minute: int = DEFAULT_DIGEST_MINUTE) -> date:
    """The day whose digest takes a row due at `due`: today's if before today's send time, else tomorrow's."""
    day, s = _seconds_into_day(due)
    return day if s < _check_minute(send_minute, "digest send minute") * 60 else day + timedelta(days=1)


def digest_due(day: date, send_minute: int = DEFAULT_DIGEST_MINUTE, quiet: QuietHours | None = None) -> float:
    """When the digest of `day` is sent: its send time, or the end of quiet hours if that falls inside them."""
    t = at_local(day, send_minute)
    return quiet.next_allowed(t) if quiet is not None else t


@dataclass(frozen=True)
class DigestGroup(Generic[T]):
    """The rows of one digest message, in the order given."""

    key: str
    profile_id: str
    day: date
    channel: str
    due: float
    items: tuple[T, ...]


def group_digests(
    rows: Iterable[tuple[str, str, float, T]],
    *,
    send_minute: int = DEFAULT_DIGEST_MINUTE,
    quiet_of: Callable[[str], QuietHours | None] = lambda _profile: None,
    dedupe: Callable[[T], Hashable] | None = None,
) -> list[DigestGroup[T]]:
    """Group `(profile_id, channel, due, item)` rows into digests, one per profile, channel and digest day.

    `quiet_of(profile_id)` gives the profile's quiet hours; `dedupe(item)` (e.g. the document id)
    keeps only the last item per value within one digest, so a policy revised on the same day is
    listed once, as its newest version. Groups come sorted by (due, key).
    """
    buckets: dict[tuple[str, date, str], list[T]] = {}
    for profile_id, channel, due, item in rows:
        buckets.setdefault((profile_id, digest_day(due, send_minute), channel), []).append(item)
    groups = []
    for (profile_id, day, channel), items in buckets.items():
        if dedupe is not None:
            items = list({dedupe(i): i for i in items}.values())  # dict keeps first position, last value
        due = digest_due(day, send_minute, quiet_of(profile_id))
        groups.append(DigestGroup(digest_key(profile_id, day, channel), profile_id, day, channel, due, tuple(items)))
    return sorted(groups, key=lambda g: (g.due, g.key))


# -- one-click unsubscribe ---------------------------------------------------------------------------
_PROFILE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SIG_BYTES = 12  # 96 bits: forging one link takes ~2**95 online guesses, each rate-limited
_SIG_CHARS = 16
_MIN_SECRET_BYTES = 16


class TokenError(ValueError):
    """Why a token was refused: `reason` is malformed, signature or expired."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"unsubscribe token refused: {reason}")
        self.reason = reason


def _key(secret: str | bytes) -> bytes:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(key) < _MIN_SECRET_BYTES:
        raise ValueError(f"the unsubscribe secret must be at least {_MIN_SECRET_BYTES} bytes, got {len(key)}")
    return key


def _signature(key: bytes, profile_id: str, expiry: str) -> str:
    # The purpose prefix keeps this MAC from ever matching one the same secret makes elsewhere.
    mac = hmac.new(key, f"push-unsubscribe\0{profile_id}\0{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_SIG_BYTES]).decode("ascii")


def make_unsubscribe_token(secret: str | bytes, profile_id: str, expires_at: float | None = None) -> str:
    """A URL-safe token that unsubscribes `profile_id`, valid until `expires_at` (None: no expiry)."""
    if not _PROFILE_ID.match(profile_id):
        raise ValueError(f"profile_id must be 1-64 of A-Z a-z 0-9 _ -, got {profile_id!r}")
    expiry = "" if expires_at is None else _base36(int(expires_at))
    return f"{profile_id}.{expiry}.{_signature(_key(secret), profile_id, expiry)}"


def verify_unsubscribe_token(secret: str | bytes, token: str, now: float) -> str:
    """The profile id the token was made for; raises `TokenError` when malformed, forged or expired."""
    key = _key(secret)
    parts = token.split(".") if isinstance(token, str) and len(token) <= 120 else []
    if len(parts) != 3:
        raise TokenError("malformed")
    profile_id, expiry, sig = parts
    if not _PROFILE_ID.match(profile_id) or not re.fullmatch(r"[0-9a-z]{0,13}", expiry) or len(sig) != _SIG_CHARS:
        raise TokenError("malformed")
    # Constant time, on bytes (compare_digest refuses non-ASCII str instead of comparing it).
    if not hmac.compare_digest(sig.encode("utf-8", "replace"), _signature(key, profile_id, expiry).encode()):
        raise TokenError("signature")
    if expiry and now >= int(expiry, 36):
        raise TokenError("expired")
    return profile_id


def _base36(n: int) -> str:
    if n < 0:
        raise ValueError(f"expiry must be a timestamp >= 0, got {n}")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out
