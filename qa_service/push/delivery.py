"""Push delivery: outbox -> channel, one row (or one daily digest) at a time.

Delivery is at-least-once towards the channel and exactly-once in effect:

1. a row is claimed with a lease (its own transaction; `FOR UPDATE SKIP LOCKED` on PostgreSQL),
   so concurrent deliverers, in any number of processes, never take the same row;
2. it is sent with its idempotency key (the outbox key, or the digest's key), and marked `sent`
   in its own transaction right after, so a job killed between rows loses nothing and repeats
   nothing;
3. a job killed between "send" and "mark sent" leaves that row leased; when the lease runs out
   it is sent again with the same key, which the receiver dedupes (the inbox channel does it
   with ON CONFLICT DO NOTHING; webhook receivers, SMS and e-mail gateways take the key).

Each row names its channel; `deliver` routes it to the `Channel` of that name (rows of channels
not configured stay pending). Residents' preferences (`qa_service.push.preferences`) defer a row
instead of sending it: quiet hours and the daily cap move its `not_before`; in digest mode it is
put into the day's digest (its key on the row), sent at the digest's time as one message.
The in-app inbox is silent, so it takes every row at once, whatever the preferences.
A send that fails is retried with exponential back-off (or the receiver's Retry-After), up to
`max_attempts`; then, or at once on a permanent refusal (4xx), the row is dead-lettered (`dead`)
and shown per document and channel by `GET /api/admin/push/status`, with requeue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from qa_service.push import preferences as prefs
from qa_service.push.channels.errors import PermanentFailure, TransientFailure
from qa_service.push.records import PushMessage, mask_error
from qa_service.push.store import PushStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_LEASE_SECONDS = 300.0


class Channel(Protocol):
    """Sends one message (or a `Digest`). Must be idempotent on its `key`; raises on failure
    (`PermanentFailure`: dead-letter now; anything else: retry later)."""

    name: str

    def send(self, message: Any) -> None: ...


class InboxChannel:
    """The in-app inbox (站内信): writes the message to the store, once per key."""

    name = "inbox"

    def __init__(self, store: PushStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: Any) -> None:
        for m in getattr(message, "messages", (message,)):  # a digest lands as its policies
            self.store.add_to_inbox(m, self.clock())


@dataclass(frozen=True)
class DeliveryFailure:
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str
    final: bool  # True: dead-lettered, no more retries
    channel: str = "inbox"


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int  # dead-lettered in this run
    failures: tuple[DeliveryFailure, ...] = ()
    deferred: int = 0  # rows moved later by quiet hours, the daily cap or a digest
    claimed: int = 0


@dataclass
class _Run:
    store: PushStore
    owner: str
    max_attempts: int
    retry_seconds: float
    lease_seconds: float
    clock: Callable[[], float]
    digest_minute: int
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0

    def __post_init__(self) -> None:
        self.failures: list[DeliveryFailure] = []

    def fail(self, batch: list[PushMessage], channel: Channel, exc: Exception) -> None:
        error = mask_error(f"{type(exc).__name__}: {exc}")
        permanent = isinstance(exc, PermanentFailure)
        retry_after = exc.retry_after if isinstance(exc, TransientFailure) else None
        for m in batch:
            status = self.store.record_failure(
                m.id, error, self.clock(), self.max_attempts, self.retry_seconds,
                permanent=permanent, retry_after=retry_after,
            )  # fmt: skip
            if status == "gone":  # the subscriber deleted their profile meanwhile
                continue
            final = status == "dead"
            self.failed += final
            self.retrying += not final
            self.failures.append(
                DeliveryFailure(m.key, m.profile_id, m.doc_id, m.attempts + 1, error, final, m.channel)
            )
        m = batch[0]
        logger.warning(
            "push %s to profile %s via %s failed (attempt %d%s): %s",
            m.digest or m.key, m.profile_id, getattr(channel, "name", m.channel), m.attempts + 1,
            ", dead-lettered" if permanent or m.attempts + 1 >= self.max_attempts else "", error,
        )  # fmt: skip

    def send(self, batch: list[PushMessage], channel: Channel, item: Any) -> None:
        try:
            channel.send(item)
        except Exception as exc:
            self.fail(batch, channel, exc)
            return
        self.sent += self.store.mark_sent_many([m.id for m in batch], self.clock())

    def defer(self, m: PushMessage, until: float, digest: str | None = None) -> None:
        self.store.defer(m.id, until, self.clock(), digest)
        self.deferred += 1

    def sent_today(self, m: PushMessage, now: float) -> int:
        if m.contact.daily_cap is None:
            return 0
        day = prefs.local_day(now)
        start, end = prefs.at_local(day), prefs.at_local(day + timedelta(days=1))
        return self.store.sent_between(m.profile_id, m.channel, start, end)

    def handle(self, m: PushMessage, channel: Channel, preferences: bool) -> None:
        now = self.clock()
        c = m.contact
        if not preferences or m.channel == "inbox":
            self.send([m], channel, m)
            return
        quiet = c.quiet
        if c.delivery_mode == prefs.DeliveryMode.DIGEST.value and m.digest is None:
            first = prefs.digest_day(now, self.digest_minute)
            # Today's digest, or (when it is sent or being sent) the next day's, decided atomically by the store.
            days = [first + timedelta(days=i) for i in range(3)]
            options = [(prefs.digest_key(m.profile_id, d, m.channel), prefs.digest_due(d, self.digest_minute, quiet))
                       for d in days]  # fmt: skip
            if self.store.defer_into_digest(m.id, m.profile_id, m.channel, options, now) is None:
                # Three days' digests all in flight at once: leave the row due, a later pass places it.
                self.defer(m, now + self.retry_seconds)
            else:
                self.deferred += 1
            return
        # Quiet hours and the daily cap: a digest counts once, like a single policy.
        at = prefs.next_send_time(now, quiet=quiet, cap=c.daily_cap, sent_today=self.sent_today(m, now))
        if at > now:
            self.defer(m, at)
            return
        if m.digest is None:
            self.send([m], channel, m)
            return
        from qa_service.push.channels.render import Digest

        batch = self.store.claim_digest(self.owner, m.digest, m.channel, now, self.lease_seconds, m.profile_id)
        if not batch:
            return
        _, day, _ = prefs.parse_digest_key(m.digest)
        # A policy revised within the day is listed once, as its newest version.
        newest = list({b.doc_id: b for b in batch}.values())
        self.send(batch, channel, Digest(m.digest, m.profile_id, day, tuple(newest)))


def deliver(
    store: PushStore,
    channel: Channel | Mapping[str, Channel],
    limit: int = 100,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Callable[[], float] = time.time,
    digest_minute: int = prefs.DEFAULT_DIGEST_MINUTE,
) -> DeliveryReport:
    """Handle up to `limit` due rows, one claim / send / mark per row (or digest), in one pass.

    `channel`: a mapping name -> Channel routes each row to its channel and applies residents'
    preferences; a single Channel takes every row as it comes (tests, and stores of one channel).
    Only `Exception`s from the channel count as failed attempts; anything else (a kill,
    KeyboardInterrupt) propagates and leaves the row leased, to be re-sent after the lease.
    """
    if not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be 1..100000, got {limit}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if retry_seconds < 0 or lease_seconds <= 0:
        raise ValueError(f"retry_seconds must be >= 0 and lease_seconds > 0, got {retry_seconds}, {lease_seconds}")
    routed = isinstance(channel, Mapping)
    names = list(channel) if isinstance(channel, Mapping) else None
    run = _Run(store, uuid.uuid4().hex, max_attempts, retry_seconds, lease_seconds, clock, digest_minute)
    claimed = 0
    last_id = 0  # one pass in id order: a row that fails now waits for a later run
    for _ in range(limit):
        message = store.claim_next(run.owner, clock(), lease_seconds, after_id=last_id, channels=names)
        if message is None:
            break
        claimed += 1
        last_id = message.id
        target = channel[message.channel] if isinstance(channel, Mapping) else channel
        run.handle(message, target, routed)
    if run.sent or run.failures:
        logger.info("push deliver: %d sent, %d to retry, %d dead-lettered, %d deferred",
                    run.sent, run.retrying, run.failed, run.deferred)  # fmt: skip
    return DeliveryReport(run.sent, run.retrying, run.failed, tuple(run.failures), run.deferred, claimed)


class PeriodicDeliverer:
    """Runs `deliver` every `interval` seconds in a daemon thread, so the service sends on its own
    (when `push_worker` is "thread"; by default the worker is its own process, `qa_service.push.worker`).

    Deliveries are crash-safe on their own (leases, idempotency keys), so stopping the thread
    between or during runs loses nothing. One failed run is logged and the next one retries.
    """

    def __init__(self, run: Callable[[], DeliveryReport], interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        self._run = run
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="push-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._run()
            except Exception:  # keep the loop alive; the outbox keeps what was not sent
                logger.exception("scheduled push delivery failed")
