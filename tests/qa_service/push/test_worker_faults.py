"""Faults: the worker process (`python -m qa_service.push worker`) is killed with SIGKILL at random
points during delivery and restarted, again and again, on SQLite and on PostgreSQL. Every due
message reaches a loopback webhook receiver (counting idempotency keys) exactly once, and the
inbox holds each once; quiet hours and digests are respected throughout: rows inside quiet hours
are never sent, a digest profile's rows go out as one digest message, once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from qa_service.push.channels.webhook import verify_signature
from qa_service.push.preferences import TZ
from qa_service.push.records import Contact, OutboxEntry
from qa_service.push.store import PushStore
from tests.qa_service.push.loopback import HttpReceiver
from tests.qa_service.push.tiny import PEOPLE

REPO = Path(__file__).resolve().parents[3]
PROFILES, DOCS = 40, 3  # 120 immediate webhook messages (and as many inbox ones) per run


def wait_until(cond: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def fill(store: PushStore, hook: str) -> tuple[set[str], set[str], set[str]]:
    """Immediate, quiet-hours and digest subscribers, all on the webhook; returns the profile ids of each."""
    minute = datetime.now(TZ).hour * 60 + datetime.now(TZ).minute
    quiet = {"quiet_start": (minute - 60) % 1440, "quiet_end": (minute + 120) % 1440}  # now is inside them
    kinds: dict[str, dict] = {"now": {}, "quiet": quiet, "digest": {"delivery_mode": "digest"}}
    ids: dict[str, set[str]] = {k: set() for k in kinds}
    for i in range(PROFILES + 6):
        kind = "now" if i < PROFILES else ("quiet" if i % 2 else "digest")
        pid = f"p-{kind}-{i:03d}"
        store.create_profile(PEOPLE[0].__class__(**{**PEOPLE[0].__dict__, "profile_id": pid}),
                             Contact(channels=("webhook",), webhook_url=hook, **kinds[kind]))  # fmt: skip
        ids[kind].add(pid)
    for d in range(DOCS):
        entries = [OutboxEntry(p, f"doc-{d}", "v1", f"政策{d}", f"/api/documents/doc-{d}", "理由")
                   for k in ids.values() for p in sorted(k)]  # fmt: skip
        store.enqueue(f"doc-{d}", "v1", entries)
    return ids["now"], ids["quiet"], ids["digest"]


def start_worker(url: str, tmp_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({
        "PYTHONPATH": str(REPO), "QA_DATA_DIR": str(tmp_path), "QA_PUSH_DATABASE_URL": url,
        "QA_PUSH_WEBHOOK_ENABLED": "true", "QA_PUSH_CHANNELS_ALLOW_LOOPBACK": "true",
        "QA_PUSH_LEASE_SECONDS": "1", "QA_PUSH_RETRY_SECONDS": "0", "QA_PUSH_HTTP_RETRIES": "0",
    })  # fmt: skip
    cmd = [sys.executable, "-m", "qa_service.push", "worker", "--workers", "2", "--interval", "0.05"]
    log = (tmp_path / "worker.log").open("ab")  # kept for a failing run: the workers' own account
    return subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=log, stderr=log)


def pending(store: PushStore, where: str = "digest IS NULL AND not_before <= :now") -> int:
    with store.engine.connect() as conn:
        sql = f"SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND {where}"
        return int(conn.execute(text(sql), {"now": time.time()}).scalar_one())


def kill_until_done(
    store: PushStore, receiver: HttpReceiver, tmp_path: Path, rng: random.Random, done, times: int
) -> int:
    """Start a worker, SIGKILL it after a random number of receipts, restart, `times` over; then let one
    finish. Returns how many kills hit a worker in the middle of the outbox."""
    kills = 0
    for _ in range(times):
        worker = start_worker(store.url, tmp_path)
        seen, n = len(receiver.requests), rng.randint(1, 15)
        wait_until(lambda: len(receiver.requests) >= seen + n or done())  # noqa: B023
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        kills += not done()
    worker = start_worker(store.url, tmp_path)
    try:
        assert wait_until(done, 30), [dict(r) for r in store.outbox_rows() if r["status"] == "pending"][:5]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(15)
    return kills


@pytest.mark.parametrize("seed", [11])
def test_a_worker_killed_at_random_points_delivers_every_message_exactly_once(db_url, tmp_path, seed):
    rng = random.Random(seed)
    with HttpReceiver() as receiver:
        store = PushStore(url=db_url)
        now_ids, quiet_ids, digest_ids = fill(store, receiver.url())
        rows = store.outbox_rows()
        immediate = {r["key"] for r in rows if r["profile_id"] in now_ids and r["channel"] == "webhook"}
        assert len(immediate) == PROFILES * DOCS

        kills = kill_until_done(store, receiver, tmp_path, rng, lambda: pending(store) == 0, 4)
        assert kills >= 2  # the kills did land mid-delivery
        # Every immediate message exactly once by key (re-sends after a kill, or after a lease that ran out
        # under load, carry the same key and are answered without a second delivery).
        assert set(receiver.accepted) == immediate and len(receiver.accepted) == len(immediate)
        secrets = {s.profile.profile_id: s.contact.webhook_secret for s in map(store.get_profile, now_ids)}
        for r in receiver.requests[:20]:
            body = r.json()
            assert verify_signature(secrets[body["profile_id"]], r.body, r.headers["x-push-signature"],
                                    r.headers["x-push-timestamp"], time.time())  # fmt: skip
        everyone = now_ids | quiet_ids | digest_ids
        assert sum(store.inbox(p, limit=1)[0] for p in everyone) == len(everyone) * DOCS  # silent: all, at once

        # Quiet hours and digests held their rows back: nothing of theirs reached the receiver.
        by_key = {r["key"]: r for r in store.outbox_rows()}
        held_back = [r for r in by_key.values() if r["channel"] == "webhook" and r["profile_id"] not in now_ids]
        assert held_back and all(r["status"] == "pending" and r["not_before"] > time.time() for r in held_back)
        assert all(r["digest"] for r in held_back if r["profile_id"] in digest_ids)
        assert len({r["digest"] for r in held_back if r["profile_id"] in digest_ids}) == len(digest_ids)

        # The digest's time comes (moved to now): one digest message per profile, exactly once, under kills.
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE outbox SET not_before = 0 WHERE digest IS NOT NULL"))
        before = set(receiver.accepted)
        kills += kill_until_done(store, receiver, tmp_path, rng, lambda: pending(store, "digest IS NOT NULL") == 0, 1)
        digests = [k for k in receiver.accepted if k not in before]
        assert sorted(digests) == sorted({r["digest"] for r in held_back if r["profile_id"] in digest_ids})
        # Quiet rows are still waiting for the end of quiet hours.
        assert pending(store, "profile_id LIKE 'p-quiet-%' AND not_before > :now") == len(quiet_ids) * DOCS
        print(f"{kills} kills mid-delivery, {sum(receiver.duplicates.values())} re-sends deduped by the receiver")
        store.close()
