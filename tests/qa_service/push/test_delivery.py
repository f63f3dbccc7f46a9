"""Push delivery on the tiny Licheng corpus (`tiny.py` says who gets what), on SQLite and PostgreSQL:
a job resumes after a crash with every message sent exactly once, failures retry then are
dead-lettered, rows go to the channel they name (a failing one holds up no other), residents'
quiet hours, daily cap and digests defer rows; the scheduler sends on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from qa_service.push.channels import Digest, PermanentFailure, TransientFailure
from qa_service.push.delivery import InboxChannel, deliver
from qa_service.push.planner import plan
from qa_service.push.preferences import at_local, digest_key
from qa_service.push.records import Contact, ContactChannel, OutboxEntry, PushMessage
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push.conftest import filled_store
from tests.qa_service.push.tiny import PEOPLE, all_keys, labeller

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def store(db_url):
    s = filled_store(db_url)
    yield s
    s.close()


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so `deliver` does not count it as a failed send."""


class FakeChannel:
    """Records every call; `received` dedupes by idempotency key as a real gateway does."""

    name = "fake"

    def __init__(self, kill_on_call: int | None = None, sent_before_kill: bool = False, failing=()) -> None:
        self.kill_on_call = kill_on_call
        self.sent_before_kill = sent_before_kill
        self.failing = set(failing)
        self.calls: list[str] = []
        self.received: dict[str, PushMessage] = {}
        self.n = 0

    def send(self, message: PushMessage) -> None:
        self.n += 1
        if self.n == self.kill_on_call and not self.sent_before_kill:
            raise Killed
        if message.profile_id in self.failing:
            raise ConnectionError("短信网关拒绝：13812345678 不可达")
        self.calls.append(message.key)
        self.received.setdefault(message.key, message)
        if self.n == self.kill_on_call:
            raise Killed


def test_deliver_sends_each_message_once_and_a_second_run_sends_nothing(planned):
    ch = FakeChannel()
    report = deliver(planned, ch, limit=100)
    assert (report.sent, report.retrying, report.failed) == (6, 0, 0)
    assert sorted(ch.calls) == sorted(all_keys(planned))
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 6, "failed": 0, "dead": 0}
    assert deliver(planned, ch).sent == 0 and len(ch.calls) == 6


def test_deliver_respects_the_limit(planned):
    ch = FakeChannel()
    assert deliver(planned, ch, limit=4).sent == 4
    assert deliver(planned, ch, limit=4).sent == 2
    assert sorted(ch.calls) == sorted(all_keys(planned))


@pytest.mark.parametrize("bad", [{"limit": 0}, {"max_attempts": 0}, {"lease_seconds": 0}])
def test_deliver_validates_its_arguments(planned, bad):
    with pytest.raises(ValueError, match="must be"):
        deliver(planned, FakeChannel(), **{"limit": 10, **bad})


def test_killed_between_rows_the_rerun_sends_exactly_the_rest(planned):
    clock = [1000.0]
    first = FakeChannel(kill_on_call=4)  # dies as the 4th send starts: 3 sent and marked
    with pytest.raises(Killed):
        deliver(planned, first, clock=lambda: clock[0], lease_seconds=60)
    assert len(first.calls) == 3 and planned.status_counts()["sent"] == 3

    second = FakeChannel()
    # Straight away: everything but the row that was in flight (still leased to the dead job).
    assert deliver(planned, second, clock=lambda: clock[0], lease_seconds=60).sent == 2
    clock[0] += 61  # the dead job's lease has run out
    assert deliver(planned, second, clock=lambda: clock[0], lease_seconds=60).sent == 1
    sent = first.calls + second.calls
    assert sorted(sent) == sorted(all_keys(planned))  # nothing lost, nothing sent twice
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 6, "failed": 0, "dead": 0}


def test_killed_after_sending_before_marking_resends_once_with_the_same_key(planned):
    clock = [1000.0]
    first = FakeChannel(kill_on_call=2, sent_before_kill=True)
    with pytest.raises(Killed):
        deliver(planned, first, clock=lambda: clock[0], lease_seconds=60)
    in_doubt = first.calls[-1]
    clock[0] += 61
    second = FakeChannel()
    assert deliver(planned, second, clock=lambda: clock[0], lease_seconds=60).sent == 5
    # The in-doubt message went out again with the same idempotency key: the receiver dedupes it.
    assert second.calls.count(in_doubt) == 1 and first.calls.count(in_doubt) == 1
    assert set(first.received) | set(second.received) == all_keys(planned)
    assert len(first.calls) + len(second.calls) == 7


def test_inbox_channel_stores_a_resent_message_once(planned):
    clock = [1000.0]

    class DyingInbox(InboxChannel):
        def send(self, message: PushMessage) -> None:
            super().send(message)
            raise Killed  # after the inbox write, before the outbox row is marked sent

    with pytest.raises(Killed):
        deliver(planned, DyingInbox(planned), clock=lambda: clock[0], lease_seconds=60)
    clock[0] += 61
    assert deliver(planned, InboxChannel(planned), clock=lambda: clock[0], lease_seconds=60).sent == 6
    assert sum(planned.inbox(p.profile_id)[0] for p in PEOPLE) == 6
    total, [item] = planned.inbox("p-parent")
    assert total == 1 and item.title == "历城区义务教育阶段学校招生入学工作实施意见"
    assert item.reason == "适用于济南市历城区，您属于学生及家长。" and item.evidence == ("适龄儿童按学区划分入学",)


_DYING_JOB = """
import os, sys
from qa_service.push.delivery import deliver
from qa_service.push.store import PushStore

store = PushStore(url=sys.argv[1])
out = open(sys.argv[2], "a", encoding="utf-8")

class Dying:
    name = "dying"
    n = 0
    def send(self, message):
        self.n += 1
        if self.n == 4:
            os._exit(9)  # the process is gone: no exception handler, no rollback, no cleanup
        out.write(message.key + "\\n")
        out.flush()
        os.fsync(out.fileno())

deliver(store, Dying(), limit=100, lease_seconds=60)
"""


def test_a_real_process_killed_mid_job_loses_nothing_and_repeats_nothing(planned, tmp_path):
    """A separate Python process dies (os._exit) on its 4th send; this process finishes the job."""
    log = tmp_path / "sent.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _DYING_JOB, planned.url, str(log)], cwd=tmp_path, env=env, timeout=60, check=False
    )
    assert done.returncode == 9
    assert len(log.read_text(encoding="utf-8").split()) == 3 and planned.status_counts()["sent"] == 3

    class Appending:
        name = "appending"

        def send(self, message: PushMessage) -> None:
            with log.open("a", encoding="utf-8") as f:
                f.write(message.key + "\n")

    later = time.time() + 61  # after the dead job's lease
    assert deliver(planned, Appending(), clock=lambda: later, lease_seconds=60).sent == 3
    lines = log.read_text(encoding="utf-8").split()
    assert sorted(lines) == sorted(all_keys(planned))


def test_failed_sends_are_retried_with_back_off_then_dead_lettered(planned, caplog):
    clock = [0.0]
    ch = FakeChannel(failing={"p-parent"})
    run = lambda: deliver(planned, ch, clock=lambda: clock[0], max_attempts=3, retry_seconds=10)  # noqa: E731
    first = run()
    assert (first.sent, first.retrying, first.failed) == (5, 1, 0)
    clock[0] = 5.0
    assert run().retrying == 0  # not due yet (first retry at t=10)
    clock[0] = 10.0
    assert run().retrying == 1  # attempt 2; the next waits 20 s
    clock[0] = 30.0
    last = run()
    assert (last.sent, last.retrying, last.failed) == (0, 0, 1)
    [failure] = last.failures
    assert failure.final and failure.attempts == 3 and failure.profile_id == "p-parent"
    assert "ConnectionError" in failure.error and "13812345678" not in failure.error
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 5, "failed": 0, "dead": 1}
    [stored] = planned.failures()
    assert stored.attempts == 3 and stored.doc_id == "edu"
    clock[0] = 1000.0
    assert run().failed == 0 and ch.calls.count(stored.key) == 0  # dead rows are not retried again
    assert "13812345678" not in caplog.text


def test_a_contact_channel_message_carries_the_address_for_the_gateway_only(db_url):
    store = PushStore(url=db_url)
    store.create_profile(PEOPLE[0], Contact(ContactChannel.SMS, "13812345678"))
    plan(store, tiny_docs(), labeller)
    sms, inbox = FakeChannel(), FakeChannel()
    assert deliver(store, {"sms": sms, "inbox": inbox}).sent == 2
    [msg] = sms.received.values()
    assert msg.channel == "sms" and msg.phone == msg.contact.address == "13812345678"
    assert "13812345678" not in repr(msg)
    [in_app] = inbox.received.values()
    assert in_app.channel == "inbox" and in_app.key != msg.key
    store.close()


# -- the scheduler ---------------------------------------------------------------------------------
def test_the_periodic_deliverer_sends_everything_queued_and_survives_a_failed_run(store, planned):
    import threading

    from qa_service.push.delivery import PeriodicDeliverer

    channel = FakeChannel()
    done = threading.Event()
    runs = []

    def run():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database briefly locked")  # the loop must go on
        report = deliver(store, channel, 500)
        if store.status_counts()["pending"] == 0:
            done.set()
        return report

    deliverer = PeriodicDeliverer(run, interval=0.01)
    deliverer.start()
    try:
        assert done.wait(timeout=10), "the scheduler never emptied the outbox"
    finally:
        deliverer.stop()
    assert len(runs) >= 2
    assert sorted(channel.calls) == sorted(set(channel.calls))  # each message once
    assert store.status_counts()["sent"] == len(channel.received) > 0


def test_the_periodic_deliverer_rejects_a_zero_interval():
    from qa_service.push.delivery import PeriodicDeliverer

    with pytest.raises(ValueError, match="interval must be > 0"):
        PeriodicDeliverer(lambda: None, 0)


# -- channels by name, dead letters, residents' preferences ------------------------------------------
DAY = date(2026, 12, 1)
EMAIL = "zhang.san@example.com"


def at(minute: int, day: date = DAY) -> float:
    return at_local(day, minute)  # Asia/Shanghai wall clock


def subscribe(store: PushStore, profile_id: str, **contact) -> None:
    store.create_profile(replace(PEOPLE[0], profile_id=profile_id), Contact(**contact))


def put(store: PushStore, profile_id: str, *doc_ids: str) -> None:
    for d in doc_ids:
        store.enqueue(d, "v1", [OutboxEntry(profile_id, d, "v1", f"政策{d}", f"/api/documents/{d}", "理由")])


class Refusing(FakeChannel):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def send(self, message) -> None:
        self.n += 1
        raise self.exc


def test_rows_go_to_their_channel_and_a_failing_one_holds_up_no_other(store):
    subscribe(store, "p-multi", channels=("webhook", "email", "sms"), email=EMAIL, phone="13812345678",
              webhook_url="https://hooks.example.com/lc")  # fmt: skip
    put(store, "p-multi", "d1", "d2")
    inbox, email = FakeChannel(), FakeChannel()
    webhook = Refusing(TransientFailure("HTTP 503", status=503))
    channels = {"inbox": inbox, "email": email, "webhook": webhook}  # no SMS gateway configured
    clock = [0.0]
    run = lambda: deliver(store, channels, clock=lambda: clock[0], max_attempts=2, retry_seconds=10)  # noqa: E731
    first = run()
    assert (first.sent, first.retrying, first.failed) == (4, 2, 0)
    assert len(inbox.received) == len(email.received) == 2
    clock[0] = 100.0
    second = run()
    assert (second.sent, second.retrying, second.failed) == (0, 0, 2) and {f.channel for f in second.failures} == {
        "webhook"
    }
    by = {r["channel"]: r for r in store.status_by_document("d1")}
    assert (by["webhook"]["dead"], by["email"]["sent"], by["sms"]["pending"]) == (1, 1, 1)  # SMS waits for a gateway
    # A permanent refusal (4xx) is dead-lettered at the first attempt.
    store.requeue_dead(channel="webhook")
    webhook.exc = PermanentFailure("HTTP 410", status=410)
    assert run().failed == 2 and webhook.n == 6


def test_quiet_hours_defer_a_row_until_they_end_but_not_the_inbox(store):
    subscribe(store, "p-night", channel="email", address=EMAIL, quiet_start=22 * 60, quiet_end=7 * 60)
    put(store, "p-night", "d1")
    inbox, email = FakeChannel(), FakeChannel()
    clock = [at(23 * 60)]
    report = deliver(store, {"inbox": inbox, "email": email}, clock=lambda: clock[0])
    assert (report.sent, report.deferred) == (1, 1) and len(inbox.calls) == 1 and email.calls == []
    clock[0] = at(7 * 60 - 1, DAY + timedelta(days=1))
    assert deliver(store, {"inbox": inbox, "email": email}, clock=lambda: clock[0]).claimed == 0
    clock[0] = at(7 * 60, DAY + timedelta(days=1))
    assert deliver(store, {"inbox": inbox, "email": email}, clock=lambda: clock[0]).sent == 1 and len(email.calls) == 1


def test_the_daily_cap_moves_the_rest_to_the_next_day(store):
    subscribe(store, "p-cap", channel="email", address=EMAIL, daily_cap=2)
    put(store, "p-cap", "d1", "d2", "d3")
    email = FakeChannel()
    clock = [at(9 * 60)]
    report = deliver(store, {"email": email}, clock=lambda: clock[0])
    assert (report.sent, report.deferred) == (2, 1)
    clock[0] = at(23 * 60)
    assert deliver(store, {"email": email}, clock=lambda: clock[0]).claimed == 0  # not before midnight
    clock[0] = at(0, DAY + timedelta(days=1))
    assert deliver(store, {"email": email}, clock=lambda: clock[0]).sent == 1 and len(email.calls) == 3


def test_a_digest_sends_the_days_policies_as_one_message_at_its_time(store):
    subscribe(store, "p-digest", channel="email", address=EMAIL, delivery_mode="digest")
    put(store, "p-digest", "d1", "d2")
    email = FakeChannel()
    clock = [at(10 * 60)]
    report = deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    assert (report.sent, report.deferred) == (0, 2) and email.calls == []
    clock[0] = at(18 * 60)
    report = deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    [key] = email.calls
    assert key == digest_key("p-digest", DAY, "email") and report.sent == 2
    digest = email.received[key]
    assert isinstance(digest, Digest) and sorted(m.doc_id for m in digest.messages) == ["d1", "d2"]
    # A policy planned after the digest went out waits for the next day's.
    put(store, "p-digest", "d3")
    clock[0] = at(18 * 60 + 5)
    deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    clock[0] = at(18 * 60, DAY + timedelta(days=1))
    deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    assert email.calls == [key, digest_key("p-digest", DAY + timedelta(days=1), "email")]
    assert store.status_counts()["sent"] == 3


def test_a_policy_planned_while_its_days_digest_is_being_sent_goes_into_the_next_one(store):
    """A slower worker places a row it took just before 18:00 while the digest is in flight (sent, not marked)."""
    subscribe(store, "p-race", channel="email", address=EMAIL, delivery_mode="digest")
    put(store, "p-race", "d1")
    clock = [at(10 * 60)]

    class Racing(FakeChannel):
        def send(self, message: PushMessage) -> None:
            if not self.calls:  # mid-send of today's digest: a policy arrives and a second worker takes it
                put(store, "p-race", "d2")
                late = at(18 * 60) - 0.5  # its clock read before the digest's time: today's digest is still open
                second = deliver(store, {"email": FakeChannel()}, clock=lambda: late, digest_minute=18 * 60)
                assert second.deferred == 1 and second.sent == 0
            super().send(message)

    email = Racing()
    deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    clock[0] = at(18 * 60)
    deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    today, tomorrow = digest_key("p-race", DAY, "email"), digest_key("p-race", DAY + timedelta(days=1), "email")
    assert email.calls == [today] and [m.doc_id for m in email.received[today].messages] == ["d1"]
    # Under today's key d2 would be dropped by the receiver as a duplicate; it goes out the next day.
    clock[0] = at(18 * 60, DAY + timedelta(days=1))
    deliver(store, {"email": email}, clock=lambda: clock[0], digest_minute=18 * 60)
    assert email.calls == [today, tomorrow] and [m.doc_id for m in email.received[tomorrow].messages] == ["d2"]
    assert store.status_counts()["sent"] == 2
