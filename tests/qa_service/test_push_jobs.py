"""Push jobs on the tiny Licheng corpus: planning is idempotent, revisions are re-pushed with 修订,
delivery resumes after a crash with every message sent exactly once, failures retry then fail.

Who gets what, by hand (fake labeller below, profiles in `PEOPLE`):
- emp (就业补贴, 历城区, groups 高校毕业生 + 中小微企业): the 3 Licheng graduates and the firm -> 4;
  the Shanghai graduate is outside the district.
- edu (招生入学, 历城区, 学生及家长): the parent -> 1.
- new (老旧小区改造 2024, 历城区, no group, topic 城市更新): the pensioner, via the topic -> 1.
- old (superseded) and tax (expired): not planned.
Total 6 messages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from corpus.models import Document
from corpus.profiles import Profile
from corpus.targeting import Audience, Jurisdiction, JurisdictionLevel, Targeting
from qa_service.push_jobs import InboxChannel, deliver, document_version, plan, plan_pending
from qa_service.push_store import Contact, ContactChannel, PushMessage, PushStore
from tests.conftest import tiny_docs

REPO = Path(__file__).resolve().parents[2]
LICHENG = Jurisdiction(JurisdictionLevel.DISTRICT, "山东省", "济南市", ("历城区",))
RES, ENT = Audience.RESIDENT, Audience.ENTERPRISE

LABELS = {
    "emp": Targeting(
        "emp",
        (RES, ENT),
        LICHENG,
        ("高校毕业生", "中小微企业"),
        {"高校毕业生": "为促进高校毕业生就业", "中小微企业": "吸纳高校毕业生就业的小微企业"},
        ("就业创业",),
    ),
    "edu": Targeting("edu", (RES,), LICHENG, ("学生及家长",), {"学生及家长": "适龄儿童按学区划分入学"}, ("教育",)),
    "new": Targeting("new", (RES,), LICHENG, (), {}, ("城市更新",)),
    "old": Targeting("old", (RES,), LICHENG, (), {}, ("城市更新",)),
    "tax": Targeting("tax", (ENT,), Jurisdiction(), (), {}, ("税费",), expired=True),
}


def licheng(pid: str, kind: Audience = RES, groups=(), topics=()) -> Profile:
    return Profile(pid, kind, "山东省", "济南市", "历城区", "洪家楼街道", tuple(groups), tuple(topics))


PEOPLE = [
    licheng("p-grad-1", groups=["高校毕业生"], topics=["就业创业"]),
    licheng("p-grad-2", groups=["高校毕业生"]),
    licheng("p-grad-3", groups=["高校毕业生", "灵活就业人员"]),
    licheng("p-firm", ENT, groups=["中小微企业"], topics=["惠企与营商环境"]),
    licheng("p-parent", groups=["学生及家长"], topics=["教育"]),
    licheng("p-elder", groups=["老年人"], topics=["城市更新", "养老服务"]),
    Profile("p-shanghai", RES, "上海市", "上海市", "静安区", None, ("高校毕业生",), ("就业创业",)),
]


def labeller(doc: Document) -> Targeting:
    return replace(LABELS[doc.id], doc_id=doc.id)


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


@pytest.fixture
def store(tmp_path):
    s = PushStore(tmp_path / "push.sqlite3")
    for p in PEOPLE:
        s.create_profile(p, Contact())
    yield s
    s.close()


@pytest.fixture
def planned(store):
    result = plan(store, tiny_docs(), labeller)
    assert result.enqueued == 6
    return store


def all_keys(store: PushStore) -> set[str]:
    return {r["key"] for r in store.outbox_rows()}


# -- plan ------------------------------------------------------------------------------
def test_plan_matches_by_hand_and_gives_the_reason(store):
    result = plan(store, tiny_docs(), labeller)
    assert (result.documents, result.enqueued, result.revised, result.errors) == (5, 6, (), {})
    assert set(result.skipped) == {"old", "tax"}
    rows = {(r["profile_id"], r["doc_id"]): r for r in store.outbox_rows()}
    assert set(rows) == {
        ("p-grad-1", "emp"),
        ("p-grad-2", "emp"),
        ("p-grad-3", "emp"),
        ("p-firm", "emp"),
        ("p-parent", "edu"),
        ("p-elder", "new"),
    }
    grad = rows[("p-grad-1", "emp")]
    assert grad["reason"] == "适用于济南市历城区，您属于高校毕业生。"
    assert grad["title"] == "历城区高校毕业生就业补贴办法" and grad["doc_number"] == "济历城政办字〔2025〕13号"
    assert grad["link"] == "/api/documents/emp" and grad["evidence"] == '["为促进高校毕业生就业"]'
    assert rows[("p-firm", "emp")]["reason"] == "适用于济南市历城区，您属于中小微企业。"
    assert rows[("p-elder", "new")]["reason"] == "适用于济南市历城区，您关注城市更新。"
    assert {r["status"] for r in rows.values()} == {"pending"}


def test_replanning_the_same_versions_enqueues_nothing(planned):
    before = planned.outbox_rows()
    again = plan(planned, tiny_docs(), labeller)
    assert again.enqueued == 0 and again.revised == ()
    assert [tuple(r) for r in planned.outbox_rows()] == [tuple(r) for r in before]


def test_revised_document_is_pushed_again_saying_it_was_revised(planned):
    emp = next(d for d in tiny_docs() if d.id == "emp")
    revised = replace(emp, text=emp.text + "\n第四条 补贴标准提高到每人每月800元。")
    assert document_version(revised) != document_version(emp)
    result = plan(planned, [revised], labeller)
    assert result.enqueued == 4 and result.revised == ("emp",)
    new_rows = [r for r in planned.outbox_rows() if r["doc_version"] == document_version(revised)]
    assert {r["profile_id"] for r in new_rows} == {"p-grad-1", "p-grad-2", "p-grad-3", "p-firm"}
    grad = next(r for r in new_rows if r["profile_id"] == "p-grad-1")
    assert "修订" in grad["reason"] and grad["revised"] == 1
    assert grad["reason"] == "该政策已修订，请以新版本为准。适用于济南市历城区，您属于高校毕业生。"
    assert len(all_keys(planned)) == 10  # the first version's rows are kept, not overwritten
    assert plan(planned, [revised], labeller).enqueued == 0


def test_a_status_change_alone_is_not_a_revision():
    emp = next(d for d in tiny_docs() if d.id == "emp")
    assert document_version(replace(emp, supersedes="x", version_group="g")) == document_version(emp)


def test_new_version_under_a_new_id_names_the_policy_it_replaces(store):
    docs = {d.id: d for d in tiny_docs()}
    new = replace(docs["new"], supersedes="old")
    result = plan(store, [new], labeller, get_document=docs.get)
    assert result.revised == ("new",)
    [row] = store.outbox_rows()
    assert row["reason"] == (
        "该政策已修订（替代《历城区老旧小区改造实施方案》），请以新版本为准。适用于济南市历城区，您关注城市更新。"
    )


def test_labeller_failure_leaves_the_document_queued_for_the_next_plan(store):
    def flaky(doc: Document) -> Targeting:
        if doc.id == "edu":
            raise RuntimeError("model not loaded")
        return labeller(doc)

    docs = tiny_docs()
    first = plan(store, docs, flaky)
    assert first.enqueued == 5 and set(first.errors) == {"edu"} and "model not loaded" in first.errors["edu"]
    assert store.unplanned_documents() == [("edu", document_version(docs[1]))]
    second = plan_pending(store, {d.id: d for d in docs}.get, labeller)
    assert second.enqueued == 1 and store.unplanned_documents() == []


def test_plan_pending_plans_the_current_text_of_a_document_changed_since_it_was_noted(store):
    docs = {d.id: d for d in tiny_docs()}
    store.note_documents([("emp", document_version(docs["emp"]), False)])
    docs["emp"] = replace(docs["emp"], title="历城区高校毕业生就业补贴办法（修订）")
    result = plan_pending(store, docs.get, labeller)
    assert result.enqueued == 4
    assert {r["doc_version"] for r in store.outbox_rows()} == {document_version(docs["emp"])}
    assert store.unplanned_documents() == []


# -- deliver ---------------------------------------------------------------------------
def test_deliver_sends_each_message_once_and_a_second_run_sends_nothing(planned):
    ch = FakeChannel()
    report = deliver(planned, ch, limit=100)
    assert (report.sent, report.retrying, report.failed) == (6, 0, 0)
    assert sorted(ch.calls) == sorted(all_keys(planned))
    assert planned.status_counts() == {"pending": 0, "sent": 6, "failed": 0}
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
    assert planned.status_counts() == {"pending": 0, "sent": 6, "failed": 0}


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
from qa_service.push_jobs import deliver
from qa_service.push_store import PushStore

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
    assert planned.status_counts() == {"pending": 0, "sent": 5, "failed": 1}
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

    from qa_service.push_jobs import PeriodicDeliverer

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
    from qa_service.push_jobs import PeriodicDeliverer

    with pytest.raises(ValueError, match="interval must be > 0"):
        PeriodicDeliverer(lambda: None, 0)
