"""Push delivery on the tiny Licheng corpus (`tiny.py` says who gets what): a job resumes after a
crash with every message sent exactly once, failures retry then fail, the scheduler sends on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa_service.push.delivery import InboxChannel, deliver
from qa_service.push.planner import plan
from qa_service.push.records import Contact, ContactChannel, PushMessage
from qa_service.push.store import PushStore
from tests.conftest import tiny_docs
from tests.qa_service.push.tiny import PEOPLE, all_keys, labeller

REPO = Path(__file__).resolve().parents[3]


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
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 6, "failed": 0}
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
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 6, "failed": 0}


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

store = PushStore(sys.argv[1])
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
        [sys.executable, "-c", _DYING_JOB, planned.path, str(log)], cwd=tmp_path, env=env, timeout=60, check=False
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


def test_failed_sends_are_retried_with_back_off_then_marked_failed(planned, caplog):
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
    assert planned.status_counts() == {"held": 0, "pending": 0, "sent": 5, "failed": 1}
    [stored] = planned.failures()
    assert stored.attempts == 3 and stored.doc_id == "edu"
    clock[0] = 1000.0
    assert run().failed == 0 and ch.calls.count(stored.key) == 0  # failed rows are not retried again
    assert "13812345678" not in caplog.text


def test_a_contact_channel_message_carries_the_address_for_the_gateway_only(tmp_path):
    store = PushStore(tmp_path / "p.sqlite3")
    store.create_profile(PEOPLE[0], Contact(ContactChannel.SMS, "13812345678"))
    plan(store, tiny_docs(), labeller)
    ch = FakeChannel()
    deliver(store, ch)
    [msg] = ch.received.values()
    assert msg.contact.address == "13812345678" and "13812345678" not in repr(msg)
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
