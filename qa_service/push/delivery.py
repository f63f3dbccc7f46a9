"""Push delivery: outbox -> channel.

Delivery is at-least-once towards the channel and exactly-once in effect:

1. a row is claimed with a lease (its own transaction), so concurrent deliverers never
   take the same row;
2. it is sent with its idempotency key (the outbox key), and marked `sent` in its own
   transaction right after, so a job killed between rows loses nothing and repeats nothing;
3. a job killed between "send" and "mark sent" leaves that one row leased; when the lease
   runs out it is sent again with the same key, which the receiver dedupes (the inbox
   channel does it with INSERT OR IGNORE; SMS/e-mail gateways take a client message id).

A send that raises is retried with exponential back-off, up to `max_attempts`, then the
row is `failed` and reported by `GET /api/admin/push/status`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from qa_service.push.records import PushMessage, mask_error
from qa_service.push.store import PushStore

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_LEASE_SECONDS = 300.0


class Channel(Protocol):
    """Sends one message. Must be idempotent on `message.key`; raises on failure."""

    name: str

    def send(self, message: PushMessage) -> None: ...


class InboxChannel:
    """The in-app inbox (站内信): writes the message to the store, once per key."""

    name = "inbox"

    def __init__(self, store: PushStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def send(self, message: PushMessage) -> None:
        self.store.add_to_inbox(message, self.clock())


@dataclass(frozen=True)
class DeliveryFailure:
    key: str
    profile_id: str
    doc_id: str
    attempts: int
    error: str
    final: bool  # True: marked failed, no more retries


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    retrying: int
    failed: int
    failures: tuple[DeliveryFailure, ...] = ()


def deliver(
    store: PushStore,
    channel: Channel,
    limit: int = 100,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_seconds: float = DEFAULT_RETRY_SECONDS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Callable[[], float] = time.time,
) -> DeliveryReport:
    """Send up to `limit` due messages, one claim / send / mark per row, in one pass over the outbox.

    Only `Exception`s from the channel count as failed attempts; anything else (a kill,
    KeyboardInterrupt) propagates and leaves the row leased, to be re-sent after the lease.
    """
    if not 1 <= limit <= 100_000:
        raise ValueError(f"limit must be 1..100000, got {limit}")
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if retry_seconds < 0 or lease_seconds <= 0:
        raise ValueError(f"retry_seconds must be >= 0 and lease_seconds > 0, got {retry_seconds}, {lease_seconds}")
    owner = uuid.uuid4().hex
    sent = retrying = failed = 0
    failures: list[DeliveryFailure] = []
    last_id = 0  # one pass in id order: a row that fails now waits for a later run
    for _ in range(limit):
        now = clock()
        message = store.claim_next(owner, now, lease_seconds, after_id=last_id)
        if message is None:
            break
        last_id = message.id
        try:
            channel.send(message)
        except Exception as exc:
            error = mask_error(f"{type(exc).__name__}: {exc}")
            status = store.record_failure(message.id, error, clock(), max_attempts, retry_seconds)
            if status == "gone":  # the subscriber deleted their profile meanwhile
                continue
            final = status == "failed"
            failed += final
            retrying += not final
            failures.append(
                DeliveryFailure(message.key, message.profile_id, message.doc_id, message.attempts + 1, error, final)
            )
            logger.warning(
                "push %s to profile %s via %s failed (attempt %d%s): %s",
                message.key,
                message.profile_id,
                getattr(channel, "name", "channel"),
                message.attempts + 1,
                ", giving up" if final else "",
                error,
            )
            continue
        store.mark_sent(message.id, clock())
        sent += 1
    if sent or failures:
        logger.info("push deliver: %d sent, %d to retry, %d failed", sent, retrying, failed)
    return DeliveryReport(sent, retrying, failed, tuple(failures))


class PeriodicDeliverer:
    """Runs `deliver` every `interval` seconds in a daemon thread, so the service sends on its own.

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
